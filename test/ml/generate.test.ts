import assert from 'node:assert/strict'
import { deriveKey, PhiloxStream } from '../../src/codec/prng.ts'
import { defaultLora, modelConfigs } from '../../src/ml/config.ts'
import { MlConfigError } from '../../src/ml/errors.ts'
import {
  Generation,
  type GenerationModel,
  type GenerationOptions,
  generate,
  nextTokenLogits,
  sampleToken,
} from '../../src/ml/generate.ts'
import { availableBackends, getKernels } from '../../src/ml/kernels/select.ts'
import { tsKernels } from '../../src/ml/kernels/ts-kernels.ts'
import { bytesTokenizer } from '../../src/ml/tokenizer/bytes.ts'
import { initAdapters, initStageWeights } from '../../src/ml/weights.ts'

const config = modelConfigs.micro as NonNullable<typeof modelConfigs.micro>

function microModel(kernels = tsKernels): GenerationModel {
  const backbone = initStageWeights(config, 0, config.nLayers, deriveKey('generate-test', 'backbone'))
  const adapters = initAdapters(config, defaultLora, 0, config.nLayers, deriveKey('generate-test', 'lora'))
  // Non-zero B, so that the adapters take part in every logit.
  const stream = new PhiloxStream(deriveKey('generate-test', 'lora-b'))
  for (const [name, value] of adapters) {
    if (name.endsWith('loraB')) for (let i = 0; i < value.length; i++) value[i] = stream.nextSignedUnit() * 0.05
  }
  return { kernels, backbone, adapters, lora: defaultLora }
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
/** Byte tokens of `text` (the micro model's tokenizer). */
const ids = (text: string): Int32Array => bytesTokenizer.encode(text)
const argmax = (a: Float32Array): number => a.indexOf(Math.max(...a))

describe('ml/generate: text generation', () => {
  const model = microModel()
  const sampled: GenerationOptions = { maxTokens: 24, temperature: 1, topP: 0.95, seed: 'seven' }

  it('gives the same completion for the same seed, and another for another seed', () => {
    const a = generate(model, ids('Once upon a time'), sampled)
    const b = generate(model, ids('Once upon a time'), sampled)
    const c = generate(model, ids('Once upon a time'), { ...sampled, seed: 'eight' })
    assert.equal(a.bytes.length, 24)
    assert.equal(a.finishReason, 'length')
    assert.equal(a.completionTokens, 24)
    assert.equal(a.promptTokens, 16)
    assert.deepEqual(a.bytes, b.bytes)
    assert.notDeepEqual(a.bytes, c.bytes)
  })

  it('takes the argmax of the next-token logits at temperature 0', () => {
    const prompt = ids('The quick brown fox')
    const result = generate(model, prompt, { maxTokens: 10, temperature: 0, seed: 'ignored' })
    const context = Array.from(prompt)
    for (const token of result.bytes) {
      assert.equal(token, argmax(nextTokenLogits(model, Int32Array.from(context))))
      context.push(token)
    }
    // The seed plays no part in greedy decoding.
    assert.deepEqual(generate(model, prompt, { maxTokens: 10, temperature: 0, seed: 'other' }).bytes, result.bytes)
  })

  it('samples by the softmax weights at the temperature, within the top-p nucleus', () => {
    // Weights e^0 and e^ln3 → probabilities 1/4 and 3/4, token 1 first in the descending order.
    const logits = Float32Array.of(0, Math.log(3))
    assert.equal(sampleToken(logits, 0, 1, 0.99), 1)
    assert.equal(sampleToken(logits, 1, 1, 0.7), 1)
    assert.equal(sampleToken(logits, 1, 1, 0.8), 0)
    // Top-p 0.5: token 1 alone holds 3/4 of the mass, so it is the whole nucleus.
    assert.equal(sampleToken(logits, 1, 0.5, 0.99), 1)
    // A high temperature flattens the distribution: 0.6 now falls on token 0's share.
    assert.equal(sampleToken(logits, 100, 1, 0.6), 0)
    // Ties go to the lowest index.
    assert.equal(sampleToken(Float32Array.of(2, 5, 5), 0, 1, 0), 1)
    assert.throws(() => sampleToken(logits, -1, 1, 0), MlConfigError)
    assert.throws(() => sampleToken(logits, 1, 1.5, 0), MlConfigError)
  })

  it('slides the context window at the context limit', () => {
    const long = ids('abcdefghij'.repeat(10))
    assert.ok(long.length > config.contextLength)
    const lastWindow = long.subarray(long.length - config.contextLength)
    assert.deepEqual(nextTokenLogits(model, long), nextTokenLogits(model, lastWindow))
    // Generating past the limit works, and only the last window of the prompt matters.
    const options = { ...sampled, maxTokens: 12 }
    const full = generate(model, long, options)
    assert.equal(full.bytes.length, 12)
    assert.equal(full.promptTokens, long.length)
    assert.deepEqual(generate(model, lastWindow, options).bytes, full.bytes)
    assert.notDeepEqual(generate(model, long.subarray(1, 40), options).bytes, full.bytes)
  })

  it('ends before a stop string and never hands out bytes it has to take back', () => {
    const prompt = ids('Hello')
    const free = generate(model, prompt, { maxTokens: 20, temperature: 0, seed: 's' }).bytes
    const stop = free.slice(6, 9)
    const at = Buffer.from(free).indexOf(Buffer.from(stop))
    const generation = new Generation(model, prompt, {
      maxTokens: 20,
      temperature: 0,
      seed: 's',
      stop: [stop, bytes('never-matched-stop')],
    })
    const pieces: Uint8Array[] = []
    while (!generation.done) pieces.push(generation.step())
    assert.equal(generation.finishReason, 'stop')
    assert.deepEqual(Buffer.concat(pieces), Buffer.from(free.subarray(0, at)))
    assert.equal(generation.completionTokens, at + stop.length)
    // A prefix of the stop string was held back until the match decided it.
    assert.ok(pieces.some((p) => p.length === 0))
  })

  it('gives the same text on every available backend', function () {
    const backends = availableBackends()
    if (backends.length < 2) this.skip()
    const texts = backends.map((name) =>
      Buffer.from(generate(microModel(getKernels(name as 'ts' | 'cpu')), ids('Backends agree'), sampled).bytes),
    )
    for (const text of texts.slice(1)) assert.deepEqual(text, texts[0])
  })

  it('rejects bad options with an error that names them', () => {
    assert.throws(() => new Generation(model, new Int32Array(), sampled), /prompt/)
    assert.throws(() => new Generation(model, ids('x'), { ...sampled, maxTokens: 0 }), /maxTokens/)
    assert.throws(() => new Generation(model, ids('x'), { ...sampled, temperature: Number.NaN }), /temperature/)
    assert.throws(() => new Generation(model, ids('x'), { ...sampled, stop: [new Uint8Array()] }), /stop/)
    const stage = initStageWeights(config, 1, config.nLayers, deriveKey('generate-test', 'backbone'))
    assert.throws(() => nextTokenLogits({ ...model, backbone: stage }, ids('x')), /whole model/)
  })
})
