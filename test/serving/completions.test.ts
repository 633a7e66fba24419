import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type CompletionRunner, inlineRunner } from '../../src/actors/serving/completion-runner.ts'
import { loadLocalModel, type ServedModel, SwappableModelSource } from '../../src/actors/serving/model-source.ts'
import { type ServingNode, startServingNode } from '../../src/actors/serving/serving-node.ts'
import { defaultBackboneDir } from '../../src/cli/commands/ml.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { createRuntimeComponents } from '../../src/runtime/components.ts'
import { writeAdapters, writeMicroBackbone } from './helpers.ts'

interface Chunk {
  id: string
  object: string
  created: number
  model: string
  choices: { text: string; index: number; finish_reason: string | null }[]
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
}

interface Answer extends Chunk {
  error: { message: string; type: string; param: string | null; code: string | null }
}

async function post(url: string, body: unknown): Promise<{ status: number; json: Answer }> {
  const response = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  return { status: response.status, json: (await response.json()) as Answer }
}

/** The data of each server-sent event, in order. */
interface ModelList {
  object: string
  data: { id: string; object: string; owned_by: string }[]
}

async function models(url: string): Promise<ModelList> {
  return (await (await fetch(`${url}/v1/models`)).json()) as ModelList
}

async function postStream(url: string, body: object): Promise<string[]> {
  const response = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  })
  assert.equal(response.status, 200)
  assert.equal(response.headers.get('content-type'), 'text/event-stream')
  const text = await response.text()
  assert.ok(text.endsWith('\n\n'))
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((event) => {
      assert.ok(event.startsWith('data: '), event)
      return event.slice('data: '.length)
    })
}

describe('serving: OpenAI-style completions over HTTP', function () {
  this.timeout(60_000)
  let dir: string
  let first: ServedModel
  let second: ServedModel
  let source: SwappableModelSource
  let node: ServingNode
  const kernels = getKernels('auto')

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-serving-'))
    writeMicroBackbone(dir)
    first = loadLocalModel({ backboneDir: dir, adaptersFile: writeAdapters(dir, 'first'), kernels })
    second = loadLocalModel({ backboneDir: dir, adaptersFile: writeAdapters(dir, 'second'), kernels })
    source = new SwappableModelSource(first)
    const components = createRuntimeComponents({
      name: 'serving-test',
      clock: new SimulatedClock(),
      logLevel: 'silent',
    })
    node = await startServingNode({ source, port: 0, maxBodyBytes: 4096, maxTokens: 200, maxConcurrent: 2 }, components)
  })
  after(async () => {
    await node.close()
    rmSync(dir, { recursive: true, force: true })
  })
  beforeEach(() => source.swap(first))
  const closeAfterTest: ServingNode[] = []
  afterEach(async () => {
    for (const server of closeAfterTest.splice(0)) await server.close()
  })

  const request = { prompt: 'Once upon a time', max_tokens: 24, temperature: 0.9, seed: 42 }

  it('answers a completion in the OpenAI shape, the same for the same seed', async () => {
    const a = await post(node.url, request)
    assert.equal(a.status, 200)
    const body = a.json as Chunk
    assert.match(body.id, /^cmpl-[0-9a-f]{24}$/)
    assert.equal(body.object, 'text_completion')
    assert.equal(body.created, 1_767_225_600, 'created comes from the runtime clock, in seconds')
    assert.equal(body.model, first.id)
    assert.equal(body.choices.length, 1)
    const choice = body.choices[0] as Chunk['choices'][number]
    assert.equal(choice.index, 0)
    assert.equal(choice.finish_reason, 'length')
    assert.ok(choice.text.length > 0)
    assert.deepEqual(body.usage, { prompt_tokens: 16, completion_tokens: 24, total_tokens: 40 })
    const b = await post(node.url, { ...request, prompt: ['Once upon a time'], model: first.id })
    assert.equal(b.json.choices[0]?.text, choice.text)
    assert.notEqual(b.json.id, body.id)
    const c = await post(node.url, { ...request, seed: 43 })
    assert.notEqual(c.json.choices[0]?.text, choice.text)
  })

  it('streams server-sent events whose texts join to the non-streamed completion', async () => {
    const whole = (await post(node.url, request)).json as Chunk
    const events = await postStream(node.url, request)
    assert.equal(events.at(-1), '[DONE]')
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as Chunk)
    assert.ok(chunks.length > 1, 'the text arrives in several chunks')
    assert.equal(chunks.map((c) => c.choices[0]?.text).join(''), whole.choices[0]?.text)
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.choices[0]?.finish_reason, null)
    const last = chunks.at(-1) as Chunk
    assert.equal(last.choices[0]?.finish_reason, 'length')
    assert.deepEqual(last.usage, whole.usage)
    assert.ok(chunks.every((c) => c.id === chunks[0]?.id && c.model === first.id))
  })

  it('stops before a stop string, streamed or not', async () => {
    // The committed tiny backbone writes English, so its stop strings are plain ASCII.
    source.swap(loadLocalModel({ backboneDir: defaultBackboneDir('tiny'), kernels }))
    const greedy = { ...request, temperature: 0, max_tokens: 20 }
    const free = (await post(node.url, greedy)).json.choices[0]?.text as string
    assert.match(free, /^[\x20-\x7e\n]+$/)
    const stop = free.slice(6, 8)
    const expected = free.slice(0, free.indexOf(stop))
    const stopped = (await post(node.url, { ...greedy, stop })).json
    assert.equal(stopped.choices[0]?.text, expected)
    assert.equal(stopped.choices[0]?.finish_reason, 'stop')
    assert.ok((stopped.usage?.completion_tokens as number) < 20)
    const events = await postStream(node.url, { ...greedy, stop: ['never there', stop] })
    const texts = events.slice(0, -1).map((e) => (JSON.parse(e) as Chunk).choices[0]?.text)
    assert.equal(texts.join(''), expected)
  })

  it('answers every bad request with 400 naming the field (413 for a body over the bound), and stays up', async () => {
    const cases: [unknown, string | null, RegExp][] = [
      [{ ...request, max_tokens: 0 }, 'max_tokens', /max_tokens: must be in \[1, 200\]/],
      [{ ...request, max_tokens: 201 }, 'max_tokens', /max_tokens/],
      [{ ...request, max_tokens: 2.5 }, 'max_tokens', /integer/],
      [{ ...request, max_tokens: '8' }, 'max_tokens', /integer/],
      [{ ...request, prompt: undefined }, 'prompt', /required/],
      [{ ...request, prompt: 7 }, 'prompt', /string/],
      [{ ...request, prompt: '' }, 'prompt', /empty/],
      [{ ...request, prompt: ['a', 'b'] }, 'prompt', /exactly one/],
      [{ ...request, temperature: 3 }, 'temperature', /\[0, 2\]/],
      [{ ...request, temperature: 'hot' }, 'temperature', /number/],
      [{ ...request, top_p: 1.5 }, 'top_p', /\[0, 1\]/],
      [{ ...request, stop: [1] }, 'stop', /string/],
      [{ ...request, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /at most 4/],
      [{ ...request, seed: 'abc' }, 'seed', /integer/],
      [{ ...request, stream: 'yes' }, 'stream', /boolean/],
      [{ ...request, model: 5 }, 'model', /string/],
      [{ ...request, n: 2 }, 'n', /\[1, 1\]/],
      [[request], null, /JSON object/],
      ['{"prompt": "unterminated', null, /not valid JSON/],
    ]
    for (const [body, param, message] of cases) {
      const { status, json } = await post(node.url, body)
      const what = JSON.stringify(body).slice(0, 60)
      assert.equal(status, 400, what)
      assert.equal(json.error.type, 'invalid_request_error', what)
      assert.equal(json.error.param, param, what)
      assert.match(json.error.message, message, what)
    }
    const large = await post(node.url, { ...request, prompt: 'x'.repeat(5000) })
    assert.equal(large.status, 413, 'a body over maxBodyBytes')
    assert.deepEqual(large.json.error, {
      message: 'the request body exceeds the limit of 4096 bytes',
      type: 'invalid_request_error',
      param: null,
      code: 'request_too_large',
    })
    const unknown = await fetch(`${node.url}/v1/chat/completions`, { method: 'POST', body: '{}' })
    assert.equal(unknown.status, 404)
    assert.match(((await unknown.json()) as Answer).error.message, /no route POST \/v1\/chat\/completions/)
    const wrongMethod = await fetch(`${node.url}/v1/completions`)
    assert.equal(wrongMethod.status, 405)
    assert.equal((await post(node.url, request)).status, 200, 'the server is still up')
  })

  it('lists the current model and uses a swapped-in model from the next request on', async () => {
    assert.deepEqual(
      (await models(node.url)).data.map((m) => [m.id, m.object]),
      [[first.id, 'model']],
    )
    const before = (await post(node.url, request)).json as Chunk
    // A long streamed completion is in flight when the model pointer moves: it ends on the old model.
    const response = await fetch(`${node.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ ...request, max_tokens: 120, stream: true }),
    })
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    let streamed = new TextDecoder().decode((await reader.read()).value)
    source.swap(second)
    const after = (await post(node.url, request)).json as Chunk
    assert.notEqual(second.id, first.id)
    assert.equal(after.model, second.id)
    assert.notEqual(after.choices[0]?.text, before.choices[0]?.text)
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      streamed += new TextDecoder().decode(next.value)
    }
    const events = streamed.trim().split('\n\n')
    assert.equal(events.at(-1), 'data: [DONE]')
    const streamedModels = events.slice(0, -1).map((e) => (JSON.parse(e.slice('data: '.length)) as Chunk).model)
    assert.deepEqual(new Set(streamedModels), new Set([first.id]))
    assert.equal((await models(node.url)).data[0]?.id, second.id)
  })

  it('serves other requests between tokens, and bounds the completions in flight', async () => {
    const long = { ...request, max_tokens: 150 }
    const running = [post(node.url, long), post(node.url, long)]
    // Both are generating now (maxConcurrent 2): a third gets 429, a model listing still answers.
    await new Promise((resolve) => setImmediate(resolve))
    let third = await post(node.url, request)
    for (let i = 0; i < 20 && third.status === 200; i++) third = await post(node.url, request)
    assert.equal(third.status, 429)
    assert.equal(third.json.error.code, 'too_many_completions')
    assert.equal((await fetch(`${node.url}/v1/models`)).status, 200)
    for (const r of await Promise.all(running)) assert.equal(r.status, 200)
  })

  it('stops the completion of a client that goes away, and frees its slot', async () => {
    // The real inline runner, watched: the test sees the signal the API hands it.
    const signals: AbortSignal[] = []
    const watched: CompletionRunner = {
      run: (model, prompt, options, onPiece, signal) => {
        signals.push(signal)
        return inlineRunner.run(model, prompt, options, onPiece, signal)
      },
      close: () => inlineRunner.close(),
    }
    const components = createRuntimeComponents({
      name: 'serving-gone',
      clock: new SimulatedClock(),
      logLevel: 'silent',
    })
    const single = await startServingNode({ source, port: 0, maxConcurrent: 1, runner: watched }, components)
    // Closed after the test even when it times out waiting for the abort.
    closeAfterTest.push(single)
    const client = new AbortController()
    const response = await fetch(`${single.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ ...request, max_tokens: 1000, stream: true }),
      signal: client.signal,
    })
    await (response.body as ReadableStream<Uint8Array>).getReader().read()
    assert.equal((await post(single.url, request)).status, 429, 'the one slot is taken')
    client.abort()
    const signal = signals[0] as AbortSignal
    if (!signal.aborted) await once(signal, 'abort')
    // The completion stops at its next token (1000 tokens would take seconds): a few turns of
    // the event loop, shared here by client and server, are enough to free the slot.
    for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve))
    const next = await post(single.url, request)
    assert.equal(next.status, 200, 'the slot is free again')
    assert.equal(next.json.usage?.completion_tokens, 24)
  })

  it('answers 503 until a model is loaded', async () => {
    const components = createRuntimeComponents({
      name: 'serving-empty',
      clock: new SimulatedClock(),
      logLevel: 'silent',
    })
    const empty = new SwappableModelSource()
    const bare = await startServingNode({ source: empty, port: 0 }, components)
    try {
      const { status, json } = await post(bare.url, request)
      assert.equal(status, 503)
      assert.equal(json.error.code, 'model_not_loaded')
      assert.deepEqual((await models(bare.url)).data, [])
      empty.swap(first)
      assert.equal((await post(bare.url, request)).status, 200)
    } finally {
      await bare.close()
    }
  })
})
