/**
 * The OpenAI-style API of a serving node: `POST /v1/completions` (whole or streamed as
 * server-sent events) and `GET /v1/models`, mounted on the node's router.
 *
 * Generation runs on the event loop one token at a time and yields to it between tokens
 * (`setImmediate`), so concurrent completions interleave and status requests are answered
 * between tokens; the number of completions in flight is bounded.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Generation } from '../../ml/generate.ts'
import type { Clock } from '../../runtime/clock.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { SeededRandom } from '../../runtime/random.ts'
import { HttpError, type Router, readJsonBody, sendJson } from '../http/http-server.ts'
import { type CompletionRequest, parseCompletionRequest } from './completion-request.ts'
import type { ModelSource, ServedModel } from './model-source.ts'

export interface CompletionsApiInit {
  readonly source: ModelSource
  /** Largest request body accepted. @default 1 MiB */
  readonly maxBodyBytes?: number
  /** Largest `max_tokens` accepted. @default 1024 */
  readonly maxTokens?: number
  /** Completions generated at the same time; more get 429. @default 4 */
  readonly maxConcurrent?: number
}

export interface CompletionsApiComponents {
  readonly clock: Clock
  readonly random: SeededRandom
  readonly logger: Logger
}

interface Choice {
  readonly text: string
  readonly index: 0
  readonly logprobs: null
  readonly finish_reason: 'stop' | 'length' | null
}

interface CompletionBody {
  readonly id: string
  readonly object: 'text_completion'
  readonly created: number
  readonly model: string
  readonly choices: readonly Choice[]
  readonly usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
}

/** Let the event loop run (I/O, timers, other requests) before the next token. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

class CompletionsApi {
  readonly #init: Required<CompletionsApiInit>
  readonly #components: CompletionsApiComponents
  #inFlight = 0

  constructor(init: CompletionsApiInit, components: CompletionsApiComponents) {
    this.#init = { maxBodyBytes: 1 << 20, maxTokens: 1024, maxConcurrent: 4, ...init }
    this.#components = components
  }

  mount(router: Router): void {
    router.route('POST', '/v1/completions', (req, res) => this.#complete(req, res))
    router.route('GET', '/v1/models', (_req, res) => this.#models(res))
  }

  #models(response: ServerResponse): void {
    const model = this.#init.source.current()
    const data = model === undefined ? [] : [{ id: model.id, object: 'model', created: this.#now(), owned_by: 'r3mes' }]
    sendJson(response, 200, { object: 'list', data })
  }

  #now(): number {
    return Math.floor(this.#components.clock.nowMs() / 1000)
  }

  #completionId(): string {
    const r = this.#components.random
    const words = [r.nextU32(), r.nextU32(), r.nextU32()]
    return `cmpl-${words.map((w) => w.toString(16).padStart(8, '0')).join('')}`
  }

  async #complete(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const parsed = parseCompletionRequest(await readJsonBody(request, this.#init.maxBodyBytes), {
      maxTokens: this.#init.maxTokens,
    })
    const model = this.#init.source.current()
    if (model === undefined) {
      throw new HttpError(503, 'no model is loaded yet; retry once the model pointer has been fetched', {
        code: 'model_not_loaded',
      })
    }
    if (this.#inFlight >= this.#init.maxConcurrent) {
      throw new HttpError(429, `${this.#init.maxConcurrent} completions are already running; retry later`, {
        type: 'rate_limit_error',
        code: 'too_many_completions',
      })
    }
    this.#inFlight++
    try {
      await this.#generate(parsed, model, response)
    } finally {
      this.#inFlight--
    }
  }

  async #generate(parsed: CompletionRequest, model: ServedModel, response: ServerResponse): Promise<void> {
    const encoder = new TextEncoder()
    // Without a seed the draw is still reproducible from the node's seeded randomness.
    const seed = parsed.seed ?? this.#components.random.nextU32()
    const generation = new Generation(model, encoder.encode(parsed.prompt), {
      maxTokens: parsed.maxTokens,
      temperature: parsed.temperature,
      topP: parsed.topP,
      seed: String(seed),
      stop: parsed.stop.map((s) => encoder.encode(s)),
    })
    const head = { id: this.#completionId(), object: 'text_completion' as const, created: this.#now(), model: model.id }
    // Bytes may split a UTF-8 character between tokens: the streaming decoder holds such pieces.
    const decoder = new TextDecoder('utf-8')
    let closed = false
    // The response closes early only when the client goes away: stop generating for it.
    response.on('close', () => {
      closed = true
    })
    const usage = (): NonNullable<CompletionBody['usage']> => ({
      prompt_tokens: generation.promptTokens,
      completion_tokens: generation.completionTokens,
      total_tokens: generation.promptTokens + generation.completionTokens,
    })
    const chunk = (text: string, finish: Choice['finish_reason'], withUsage: boolean): CompletionBody => ({
      ...head,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      ...(withUsage ? { usage: usage() } : {}),
    })

    if (!parsed.stream) {
      let text = ''
      while (!generation.done) {
        text += decoder.decode(generation.step(), { stream: true })
        await yieldToEventLoop()
        if (closed) return
      }
      text += decoder.decode()
      sendJson(response, 200, chunk(text, generation.finishReason ?? null, true))
      return
    }

    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    })
    const send = (body: unknown): void => {
      response.write(`data: ${JSON.stringify(body)}\n\n`)
    }
    try {
      while (!generation.done) {
        const text = decoder.decode(generation.step(), { stream: true })
        if (text.length > 0 && !generation.done) send(chunk(text, null, false))
        else if (generation.done) send(chunk(text + decoder.decode(), generation.finishReason ?? null, true))
        await yieldToEventLoop()
        if (closed) return
      }
    } catch (error) {
      // The status line is gone already: the error travels as an event of its own.
      this.#components.logger.error({ err: error }, 'completion failed while streaming')
      send(new HttpError(500, 'generation failed').toJSON())
    }
    response.end('data: [DONE]\n\n')
  }
}

/** Mount the completion API on `router`, in the `(init) => (components) => service` style. */
export function completionsApi(init: CompletionsApiInit): (components: CompletionsApiComponents) => {
  mount(router: Router): void
} {
  return (components) => new CompletionsApi(init, components)
}
