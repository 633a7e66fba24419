/**
 * The OpenAI-style API of a serving node: `POST /v1/completions` (whole or streamed as
 * server-sent events) and `GET /v1/models`, mounted on the node's router.
 *
 * Completions are computed by a runner (completion-runner.ts): by default in a worker thread,
 * so the node's event loop stays free; concurrent completions take turns token by token, and
 * their number is bounded (more get 429). A client that goes away stops its completion.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { GenerationOptions } from '../../ml/generate.ts'
import { bytesTokenizer } from '../../ml/tokenizer/bytes.ts'
import type { Clock } from '../../runtime/clock.ts'
import { MAX_HTTP_BODY_BYTES } from '../../runtime/limits.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { SeededRandom } from '../../runtime/random.ts'
import { HttpError, type Router, readJsonBody, sendJson } from '../http/http-server.ts'
import { parseRequest } from '../http/request-schema.ts'
import { type CompletionRequest, completionRequestSchema, DEFAULT_MAX_TOKENS_LIMIT } from './completion-request.ts'
import type { CompletionOutcome, CompletionRunner } from './completion-runner.ts'
import type { ModelSource, ServedModel } from './model-source.ts'
import { WorkerRunner } from './worker-runner.ts'

export interface CompletionsApiInit {
  readonly source: ModelSource
  /** Largest request body accepted (413 past it). @default MAX_HTTP_BODY_BYTES */
  readonly maxBodyBytes?: number
  /** Largest `max_tokens` accepted. @default DEFAULT_MAX_TOKENS_LIMIT */
  readonly maxTokens?: number
  /** Completions generated at the same time; more get 429. @default 4 */
  readonly maxConcurrent?: number
  /** Where completions are computed. @default a WorkerRunner (a worker thread of its own) */
  readonly runner?: CompletionRunner
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

class CompletionsApiService implements CompletionsApi {
  readonly #init: Required<Omit<CompletionsApiInit, 'runner'>>
  readonly #runner: CompletionRunner
  readonly #components: CompletionsApiComponents
  readonly #requestSchema: ReturnType<typeof completionRequestSchema>
  #inFlight = 0

  constructor(init: CompletionsApiInit, components: CompletionsApiComponents) {
    const { runner, ...limits } = init
    this.#init = { maxBodyBytes: MAX_HTTP_BODY_BYTES, maxTokens: DEFAULT_MAX_TOKENS_LIMIT, maxConcurrent: 4, ...limits }
    this.#requestSchema = completionRequestSchema({ maxTokens: this.#init.maxTokens })
    this.#runner = runner ?? new WorkerRunner()
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
    const parsed = parseRequest(this.#requestSchema, await readJsonBody(request, this.#init.maxBodyBytes))
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
    // Without a seed, one comes from the node's component PRNG (a simulation replays it).
    const seed = parsed.seed ?? this.#components.random.nextU32()
    const options: GenerationOptions = {
      maxTokens: parsed.maxTokens,
      temperature: parsed.temperature,
      topP: parsed.topP,
      seed: String(seed),
      stop: parsed.stop.map((s) => encoder.encode(s)),
    }
    const head = { id: this.#completionId(), object: 'text_completion' as const, created: this.#now(), model: model.id }
    const chunk = (text: string, finish: Choice['finish_reason'], usage?: CompletionOutcome): CompletionBody => ({
      ...head,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      ...(usage !== undefined
        ? {
            usage: {
              prompt_tokens: usage.promptTokens,
              completion_tokens: usage.completionTokens,
              total_tokens: usage.promptTokens + usage.completionTokens,
            },
          }
        : {}),
    })
    // The response closes before it is finished only when the client goes away: stop generating.
    const client = new AbortController()
    response.on('close', () => {
      if (!response.writableFinished) client.abort(new Error('the client closed the connection'))
    })
    // Bytes may split a UTF-8 character between tokens: the streaming decoder holds such pieces.
    const decoder = new TextDecoder('utf-8')
    const prompt = (model.tokenizer ?? bytesTokenizer).encode(parsed.prompt)

    if (!parsed.stream) {
      let text = ''
      const onPiece = (bytes: Uint8Array): void => {
        text += decoder.decode(bytes, { stream: true })
      }
      let outcome: CompletionOutcome
      try {
        outcome = await this.#runner.run(model, prompt, options, onPiece, client.signal)
      } catch (error) {
        if (client.signal.aborted) return
        throw error
      }
      text += decoder.decode()
      sendJson(response, 200, chunk(text, outcome.finishReason, outcome))
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
    const onPiece = (bytes: Uint8Array): void => {
      const text = decoder.decode(bytes, { stream: true })
      if (text.length > 0) send(chunk(text, null))
    }
    try {
      const outcome = await this.#runner.run(model, prompt, options, onPiece, client.signal)
      send(chunk(decoder.decode(), outcome.finishReason, outcome))
    } catch (error) {
      if (client.signal.aborted) return
      // The status line is gone already: the error travels as an event of its own.
      this.#components.logger.error({ err: error }, 'completion failed while streaming')
      send(new HttpError(500, 'generation failed').toJSON())
    }
    response.end('data: [DONE]\n\n')
  }

  close(): Promise<void> {
    return this.#runner.close()
  }
}

export interface CompletionsApi {
  mount(router: Router): void
  /** Stop the runner (the generation worker); completions in flight fail. */
  close(): Promise<void>
}

/** Mount the completion API on `router`, in the `(init) => (components) => service` style. */
export function completionsApi(init: CompletionsApiInit): (components: CompletionsApiComponents) => CompletionsApi {
  return (components) => new CompletionsApiService(init, components)
}
