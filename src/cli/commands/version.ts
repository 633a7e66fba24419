import { readFileSync } from 'node:fs'
import { type Command, ExitCode } from '../command.ts'

interface PackageJson {
  name: string
  version: string
}

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as PackageJson
  return pkg.version
}

export const versionCommand: Command = {
  name: 'version',
  summary: 'print the r3mes version and the runtime it runs on',
  usage: 'r3mes version [--json]',
  help: 'Prints the version of r3mes and of the Node.js runtime.\n\nOptions:\n  --json   print a JSON object instead of text',
  options: { json: { type: 'boolean' } },
  allowPositionals: false,
  async run(args, io) {
    const info = {
      r3mes: packageVersion(),
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
    }
    if (args.values.json === true) io.out(JSON.stringify(info))
    else io.out(`r3mes ${info.r3mes} (node ${info.node}, ${info.platform})`)
    return ExitCode.ok
  },
}
