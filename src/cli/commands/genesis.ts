/** `r3mes genesis pretrain`: quantization-aware pretraining of the backbone a network starts from. */
import type { PretrainResult } from '../../ml/jobs/job.ts'
import { runJobInWorker } from '../../ml/jobs/run-in-worker.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { intOption, numberOption, stringOption } from '../options.ts'
import { progressPrinter } from '../progress.ts'
import { defaultBackboneDir } from './ml.ts'

async function pretrain(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const config = stringOption(v, 'config', 'tiny')
  const outDir = stringOption(v, 'out', defaultBackboneDir(config))
  const result = await runJobInWorker<PretrainResult>(
    {
      kind: 'pretrain',
      backend: stringOption(v, 'backend', 'auto'),
      config,
      outDir,
      steps: intOption(v, 'steps', 2000),
      sequences: intOption(v, 'sequences', 8, 1, 1024),
      tokens: intOption(v, 'tokens', 128, 2, 4096),
      seed: stringOption(v, 'seed', 'r3mes-genesis'),
      lr: numberOption(v, 'lr', 3e-3, 1e-7, 1),
      checkpointEvery: intOption(v, 'checkpoint-every', 50),
      evalTokens: intOption(v, 'eval-tokens', 16384, 512),
      command: `r3mes genesis pretrain ${process.argv.slice(4).join(' ')}`.trim(),
    },
    progressPrinter('pretrain', io.progress),
    io.signal,
  )
  if (v.json === true) io.out(JSON.stringify(result))
  else {
    io.out(`backbone written to ${result.outDir} (${result.layerCids.length} layers)`)
    io.out(`held-out loss ${result.heldOutLoss.toFixed(4)} nats/byte (uniform: ${result.uniformLoss.toFixed(4)})`)
    io.out(
      `${result.steps} steps (resumed from ${result.resumedFrom}) on ${result.backend}, ${Math.round(result.tokensPerSecond)} tokens/s`,
    )
  }
  return ExitCode.ok
}

export const genesisCommand: Command = {
  name: 'genesis',
  summary: 'pretrain the BitNet b1.58 backbone a network starts from',
  usage: 'r3mes genesis pretrain [options]',
  help: `Actions:
  pretrain   quantization-aware pretraining (latent float weights, ternary forward, straight-through
             backward) on the non-fiction genres of the Brown Corpus; resumable: it checkpoints into
             --out and continues from there when run again with the same options

Options:
  --config NAME          model config: micro or tiny (default tiny)
  --out DIR              artifact folder (default models/<config>)
  --steps N              total steps (default 2000)
  --sequences N          sequences per step (default 8)
  --tokens N             tokens per sequence (default 128)
  --lr X                 peak AdamW learning rate (default 0.003)
  --seed TEXT            seed of the init and the data order (default r3mes-genesis)
  --checkpoint-every N   steps between checkpoints (default 50)
  --eval-tokens N        held-out tokens evaluated at the end (default 16384)
  --backend NAME         ts, cpu, cuda or auto (default auto: cuda, else cpu, else ts)
  --json                 print one JSON object`,
  options: {
    config: { type: 'string' },
    out: { type: 'string' },
    steps: { type: 'string' },
    sequences: { type: 'string' },
    tokens: { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    'checkpoint-every': { type: 'string' },
    'eval-tokens': { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
  },
  allowPositionals: true,
  async run(args, io) {
    const [action, ...extra] = args.positionals
    if (extra.length > 0) throw new InvalidArgumentError(`unexpected arguments: ${extra.join(' ')}`)
    if (action === 'pretrain') return pretrain(args, io)
    throw new InvalidArgumentError(`r3mes genesis needs an action: pretrain${action ? ` (got '${action}')` : ''}`)
  },
}
