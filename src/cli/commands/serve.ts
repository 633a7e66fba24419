/** `r3mes serve`: a serving node on its own, answering OpenAI-style completions from a local model. */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { loadLocalModel, SwappableModelSource } from '../../actors/serving/model-source.ts'
import { startServingNode } from '../../actors/serving/serving-node.ts'
import { selectBackend } from '../../ml/kernels/select.ts'
import { createRuntimeComponents } from '../../runtime/components.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { type Command, ExitCode } from '../command.ts'
import { intOption, stringOption } from '../options.ts'
import { defaultBackboneDir } from './ml.ts'

export const serveCommand: Command = {
  name: 'serve',
  summary: 'answer OpenAI-style completion requests from a local model',
  usage: 'r3mes serve [--model DIR] [--adapters FILE] [--port N] [--host H] [--backend NAME]',
  help: `Runs a serving node without joining a network: loads the backbone (and adapters) once, then
answers POST /v1/completions (streaming too) and GET /v1/models until interrupted (Ctrl-C).
Ask it with \`r3mes infer\` or any OpenAI-compatible client.

Options:
  --model DIR          backbone artifact folder (default models/tiny, the committed backbone)
  --adapters FILE      LoRA adapters bundle (e.g. from \`r3mes ml finetune --out FILE\`); without
                       it the backbone answers alone
  --port N             TCP port, 0 picks a free one (default 8080)
  --host H             address to listen on (default 127.0.0.1)
  --backend NAME       ts, cpu or auto (default auto)
  --max-tokens N       largest max_tokens a request may ask for (default 1024)
  --max-concurrent N   completions generated at the same time; more get 429 (default 4)`,
  options: {
    model: { type: 'string' },
    adapters: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    backend: { type: 'string' },
    'max-tokens': { type: 'string' },
    'max-concurrent': { type: 'string' },
  },
  allowPositionals: false,
  async run(args, io) {
    const v = args.values
    const backboneDir = stringOption(v, 'model', defaultBackboneDir('tiny'))
    if (!existsSync(backboneDir)) throw new InvalidArgumentError(`--model: no backbone folder at ${backboneDir}`)
    const adaptersFile = typeof v.adapters === 'string' ? v.adapters : undefined
    if (adaptersFile !== undefined && !existsSync(adaptersFile)) {
      throw new InvalidArgumentError(`--adapters: no file at ${adaptersFile}`)
    }
    const port = intOption(v, 'port', 8080, 0, 65535)
    const host = stringOption(v, 'host', '127.0.0.1')
    const maxTokens = intOption(v, 'max-tokens', 1024, 1, 1_000_000)
    const maxConcurrent = intOption(v, 'max-concurrent', 4, 1, 1024)
    const selected = selectBackend(stringOption(v, 'backend', 'auto'))
    if (selected.notice !== undefined) io.err(selected.notice)
    const model = loadLocalModel({
      backboneDir,
      kernels: selected.kernels,
      ...(adaptersFile !== undefined ? { adaptersFile } : {}),
    })
    // Requests without a seed draw one from the component PRNG: seeded per process from the OS,
    // so unseeded requests vary from run to run as clients expect.
    const components = createRuntimeComponents({
      name: 'serve',
      logLevel: 'warn',
      seed: randomBytes(4).readUInt32LE(0),
    })
    const node = await startServingNode(
      { source: new SwappableModelSource(model), host, port, maxTokens, maxConcurrent },
      components,
    )
    io.out(`serving ${model.id} (${model.backbone.config.name}, ${selected.kernels.name} backend) at ${node.url}`)
    io.out(`try: npx r3mes infer --url ${node.url} --prompt "Once upon a time"`)
    await new Promise<void>((resolve) => {
      if (io.signal === undefined || io.signal.aborted) resolve()
      else io.signal.addEventListener('abort', () => resolve(), { once: true })
    })
    await node.close()
    return ExitCode.ok
  },
}
