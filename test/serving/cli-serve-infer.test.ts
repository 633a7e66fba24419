import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ExitCode } from '../../src/cli/command.ts'
import { runCli } from '../../src/cli/main.ts'
import { cli } from '../helpers/cli.ts'
import { writeAdapters, writeMicroBackbone } from './helpers.ts'

/** Start `r3mes serve` in-process; resolves with its URL once it listens. */
async function serve(args: string[]): Promise<{ url: string; out: () => string; stop: () => Promise<number> }> {
  const interrupt = new AbortController()
  let out = ''
  let listening: (url: string) => void = () => {}
  const url = new Promise<string>((resolve) => {
    listening = resolve
  })
  const exited = runCli(['serve', ...args], {
    out: (text) => {
      out += `${text}\n`
      const match = /at (http:\/\/\S+)$/m.exec(text)
      if (match !== null) listening(match[1] as string)
    },
    err: (text) => {
      out += `${text}\n`
    },
    progress: { isTTY: false, write: () => {} },
    signal: interrupt.signal,
  })
  const first = await Promise.race([url, exited.then((code) => `exited ${code}: ${out}`)])
  assert.match(first, /^http:/)
  return {
    url: first,
    out: () => out,
    stop: async () => {
      interrupt.abort(new Error('test done'))
      return exited
    },
  }
}

describe('r3mes serve and r3mes infer', function () {
  this.timeout(60_000)
  let dir: string
  let adapters: string
  let server: Awaited<ReturnType<typeof serve>>

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-serve-cli-'))
    writeMicroBackbone(dir)
    adapters = writeAdapters(dir, 'cli')
    server = await serve(['--model', dir, '--adapters', adapters, '--port', '0', '--backend', 'ts'])
  })
  after(async () => {
    assert.equal(await server.stop(), ExitCode.ok)
    rmSync(dir, { recursive: true, force: true })
  })

  it('prints the completion the server gives, streamed or not', async () => {
    const ask = ['--url', server.url, '--prompt', 'Hello there', '--max-tokens', '12', '--seed', '5']
    const expected = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'Hello there', max_tokens: 12, seed: 5, temperature: 0.8 }),
    })
    const text = ((await expected.json()) as { choices: { text: string }[] }).choices[0]?.text as string
    assert.ok(text.length > 0)
    const whole = await cli('infer', ...ask)
    assert.equal(whole.code, ExitCode.ok, whole.err)
    assert.equal(whole.out, `${text}\n`)
    const streamed = await cli('infer', ...ask, '--stream')
    assert.equal(streamed.code, ExitCode.ok, streamed.err)
    assert.equal(streamed.out, `${text}\n`)
    const json = await cli('infer', ...ask, '--json')
    assert.equal(JSON.parse(json.out).choices[0].text, text)
    assert.match(server.out(), /serving bafk\S+ \(micro, ts backend\) at http:\/\/127\.0\.0\.1:\d+/)
  })

  it('reports what the server refuses, and a server it cannot reach by its URL', async () => {
    const refused = await cli('infer', '--url', server.url, '--prompt', 'x', '--max-tokens', '5000')
    assert.equal(refused.code, ExitCode.failure)
    assert.match(refused.err, /answered 400: max_tokens: must be in \[1, 1024\]/)
    // A port nothing listens on: bind one, then close it.
    const closed = await serve(['--model', dir, '--port', '0', '--backend', 'ts'])
    await closed.stop()
    const unreachable = await cli('infer', '--url', closed.url, '--prompt', 'x')
    assert.equal(unreachable.code, ExitCode.failure)
    assert.match(unreachable.err, new RegExp(`cannot reach ${closed.url}/v1/completions: .*ECONNREFUSED`))
  })

  it('rejects bad options with a usage error naming them', async () => {
    const noPrompt = await cli('infer', '--url', server.url)
    assert.equal(noPrompt.code, ExitCode.usage)
    assert.match(noPrompt.err, /--prompt/)
    const badUrl = await cli('infer', '--url', 'ftp://x', '--prompt', 'x')
    assert.equal(badUrl.code, ExitCode.usage)
    assert.match(badUrl.err, /--url/)
    const badTemperature = await cli('infer', '--prompt', 'x', '--temperature', '9')
    assert.equal(badTemperature.code, ExitCode.usage)
    assert.match(badTemperature.err, /--temperature/)
    const noModel = await cli('serve', '--model', join(dir, 'missing'))
    assert.equal(noModel.code, ExitCode.usage)
    assert.match(noModel.err, /--model: no backbone folder/)
    const taken = await cli('serve', '--model', dir, '--port', new URL(server.url).port, '--backend', 'ts')
    assert.equal(taken.code, ExitCode.failure)
    assert.match(taken.err, /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/)
    const badPort = await cli('serve', '--model', dir, '--port', '70000')
    assert.equal(badPort.code, ExitCode.usage)
    assert.match(badPort.err, /--port/)
  })
})
