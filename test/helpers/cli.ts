/** Runs the r3mes command in-process and captures what it prints. */
import { runCli } from '../../src/cli/main.ts'

export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCli(argv, {
    out: (t) => (out += `${t}\n`),
    err: (t) => (err += `${t}\n`),
    write: (t) => (out += t),
    progress: { isTTY: false, write: (t) => (err += t) },
  })
  return { code, out, err }
}
