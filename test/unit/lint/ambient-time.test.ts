import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = new URL('../../../', import.meta.url).pathname
const biome = join(root, 'node_modules', '.bin', 'biome')

async function lint(relativePath: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(biome, ['lint', '--colors=off', relativePath], { cwd: root })
    return { code: 0, output: stdout + stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, output: e.stdout + e.stderr }
  }
}

describe('lint: no ambient time or randomness', function () {
  this.timeout(30_000)

  it('rejects Date.now(), Math.random(), performance.now(), setTimeout and setInterval planted outside the adapter', async () => {
    const planted = join('src', 'ml', `planted-ambient-time-${process.pid}.ts`)
    await writeFile(
      join(root, planted),
      [
        'export const a = Date.now()',
        'export const b = Math.random()',
        'export const c = performance.now()',
        'setTimeout(() => {}, 1)',
        'setInterval(() => {}, 1)',
        '',
      ].join('\n'),
    )
    try {
      const { code, output } = await lint(planted)
      assert.notEqual(code, 0, output)
      const hits = output.match(/Ambient time or randomness/g) ?? []
      assert.equal(hits.length, 5, output)
      for (const line of [1, 2, 3, 4, 5]) assert.match(output, new RegExp(`planted-ambient-time-\\d+\\.ts:${line}:`))
    } finally {
      await rm(join(root, planted), { force: true })
    }
  })

  it('rejects AbortSignal.timeout, setImmediate, process.hrtime and Date() planted outside the runtime', async () => {
    const planted = join('src', 'ml', `planted-ambient-time-${process.pid}.ts`)
    const lines = [
      'export const a = AbortSignal.timeout(1)',
      'setImmediate(() => {})',
      'globalThis.setImmediate(() => {})',
      'export const b = process.hrtime()',
      'export const c = process.hrtime.bigint()',
      'export const d = Date()',
    ]
    await writeFile(join(root, planted), `${lines.join('\n')}\n`)
    try {
      const { code, output } = await lint(planted)
      assert.notEqual(code, 0, output)
      for (const [i, text] of lines.entries())
        assert.match(output, new RegExp(`planted-ambient-time-\\d+\\.ts:${i + 1}:`), `${text} is flagged`)
    } finally {
      await rm(join(root, planted), { force: true })
    }
  })

  it('lets tests yield to the event loop, but not read the host clock', async () => {
    const planted = join('test', 'unit', `planted-ambient-time-${process.pid}.ts`)
    await writeFile(
      join(root, planted),
      ['await new Promise((resolve) => setImmediate(resolve))', 'export const a = AbortSignal.timeout(1)', ''].join(
        '\n',
      ),
    )
    try {
      const { output } = await lint(planted)
      assert.doesNotMatch(output, /planted-ambient-time-\d+\.ts:1:/, output)
      assert.match(output, /planted-ambient-time-\d+\.ts:2:/, output)
    } finally {
      await rm(join(root, planted), { force: true })
    }
  })

  it('allows the one adapter that wraps the host clock, and the one place that yields to the event loop', async () => {
    for (const file of [join('src', 'runtime', 'system-clock.ts'), join('src', 'runtime', 'event-loop.ts')]) {
      const { code, output } = await lint(file)
      assert.equal(code, 0, output)
    }
  })
})
