/** `r3mes infer`: ask a serving node for a completion and print it (as it arrives with --stream). */
import { InvalidArgumentError, R3mesError } from '../../runtime/errors.ts'
import { type CliIo, type Command, ExitCode } from '../command.ts'
import { intOption, listOption, numberOption, stringOption } from '../options.ts'

/** The serving node could not be reached or answered with an error. */
export class ServingRequestError extends R3mesError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ERR_SERVING_REQUEST', message, details)
  }
}

function completionsUrl(base: string): string {
  let url: URL
  try {
    url = new URL(base)
  } catch {
    throw new InvalidArgumentError(`--url must be an http(s) URL such as http://127.0.0.1:8080, got '${base}'`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`--url must be an http(s) URL, got '${base}'`)
  }
  const path = url.pathname.replace(/\/+$/, '')
  url.pathname = path.endsWith('/v1') ? `${path}/completions` : `${path}/v1/completions`
  return url.toString()
}

async function post(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  let response: Response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal !== undefined ? { signal } : {}),
    })
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause
    throw new ServingRequestError(`cannot reach ${url}: ${cause?.message ?? (error as Error).message}`, { url })
  }
  if (!response.ok) {
    const text = await response.text()
    let message = text
    try {
      message = (JSON.parse(text) as { error: { message: string } }).error.message
    } catch {
      // Not the OpenAI error shape: show the body as it came.
    }
    throw new ServingRequestError(`${url} answered ${response.status}: ${message}`, { url, status: response.status })
  }
  return response
}

interface CompletionChunk {
  choices: { text: string; finish_reason: string | null }[]
  error?: { message: string }
}

function parseAnswer(text: string, url: string): CompletionChunk {
  let answer: CompletionChunk
  try {
    answer = JSON.parse(text) as CompletionChunk
  } catch {
    throw new ServingRequestError(`${url} answered with something other than JSON: ${text.slice(0, 200)}`, { url })
  }
  if (answer.error === undefined && !Array.isArray(answer.choices)) {
    throw new ServingRequestError(`${url} answered without choices: ${text.slice(0, 200)}`, { url })
  }
  return answer
}

/** Print the text of each server-sent event as it arrives; returns the finish reason. */
async function printStream(response: Response, url: string, io: CliIo): Promise<string | null> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let collected = ''
  let finish: string | null = null
  let done = false
  const print = (text: string): void => {
    if (io.write !== undefined) io.write(text)
    else collected += text
  }
  while (!done) {
    const next = await reader.read()
    if (next.done) break
    buffer += decoder.decode(next.value, { stream: true })
    let end = buffer.indexOf('\n\n')
    while (end >= 0) {
      const event = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      end = buffer.indexOf('\n\n')
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue
        const data = line.slice('data: '.length)
        if (data === '[DONE]') {
          done = true
          break
        }
        const chunk = parseAnswer(data, url)
        if (chunk.error !== undefined) throw new ServingRequestError(`${url} failed mid-stream: ${chunk.error.message}`)
        const choice = chunk.choices[0]
        if (choice !== undefined) {
          print(choice.text)
          finish = choice.finish_reason ?? finish
        }
      }
    }
  }
  if (!done) throw new ServingRequestError(`${url} ended the stream before [DONE]`, { url })
  if (io.write !== undefined) io.write('\n')
  else io.out(collected)
  return finish
}

export const inferCommand: Command = {
  name: 'infer',
  summary: 'ask a serving node for a completion',
  usage: 'r3mes infer --url URL --prompt TEXT [--max-tokens N] [--temperature T] [--seed S] [--stream]',
  help: `Sends POST /v1/completions to a serving node (\`r3mes serve\`, or a node with the serving role)
and prints the completion.

Options:
  --url URL            the serving node, e.g. http://127.0.0.1:8080 (default that)
  --prompt TEXT        the prompt (or give it as the one positional argument)
  --max-tokens N       bytes to generate at most (default 64)
  --temperature T      0 is greedy; higher is more varied (default 0.8, range 0 to 2)
  --top-p P            nucleus mass kept before each draw (default 1)
  --seed S             integer seed: the same request and seed give the same text
  --stop TEXT          stop before this text (repeatable, up to 4)
  --stream             print the text as it is generated
  --json               print the server's whole JSON answer (not with --stream)`,
  options: {
    url: { type: 'string' },
    prompt: { type: 'string' },
    'max-tokens': { type: 'string' },
    temperature: { type: 'string' },
    'top-p': { type: 'string' },
    seed: { type: 'string' },
    stop: { type: 'string', multiple: true },
    stream: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  allowPositionals: true,
  async run(args, io) {
    const v = args.values
    if (args.positionals.length > 1 || (args.positionals.length === 1 && v.prompt !== undefined)) {
      throw new InvalidArgumentError('give the prompt once: --prompt TEXT or one positional argument')
    }
    const prompt = args.positionals[0] ?? stringOption(v, 'prompt', '')
    if (prompt.length === 0) throw new InvalidArgumentError('--prompt: a prompt is required')
    const stream = v.stream === true
    if (stream && v.json === true) throw new InvalidArgumentError('--json and --stream do not go together')
    const url = completionsUrl(stringOption(v, 'url', 'http://127.0.0.1:8080'))
    const seed = v.seed === undefined ? undefined : intOption(v, 'seed', 0, Number.MIN_SAFE_INTEGER)
    const stop = listOption(v, 'stop')
    const body = {
      prompt,
      max_tokens: intOption(v, 'max-tokens', 64, 1, 1_000_000),
      temperature: numberOption(v, 'temperature', 0.8, 0, 2),
      top_p: numberOption(v, 'top-p', 1, 0, 1),
      ...(seed !== undefined ? { seed } : {}),
      ...(stop.length > 0 ? { stop } : {}),
      stream,
    }
    const response = await post(url, body, io.signal)
    if (stream) {
      await printStream(response, url, io)
      return ExitCode.ok
    }
    const answer = parseAnswer(await response.text(), url)
    if (v.json === true) io.out(JSON.stringify(answer))
    else io.out(answer.choices[0]?.text ?? '')
    return ExitCode.ok
  },
}
