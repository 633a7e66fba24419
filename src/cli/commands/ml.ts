/** `r3mes ml`: fine-tune LoRA adapters and check that every backend gives the same bytes. */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { CheckResult, FinetuneResult } from '../../ml/jobs/job.ts'
import { runJobInWorker } from '../../ml/jobs/run-in-worker.ts'
import { availableBackends } from '../../ml/kernels/select.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { intOption, listOption, numberOption, oneOf, stringOption } from '../options.ts'
import { progressPrinter } from '../progress.ts'
import { checkpointCommand, checkpointHelp } from './ml-checkpoint.ts'

/** Where the committed genesis backbones live: models/<config>/. */
export function defaultBackboneDir(config: string): string {
  return fileURLToPath(new URL(`../../../models/${config}/`, import.meta.url))
}

async function finetune(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const config = stringOption(v, 'config', 'tiny')
  const backboneDir = stringOption(v, 'backbone', defaultBackboneDir(config))
  if (!existsSync(backboneDir)) {
    throw new InvalidArgumentError(
      `no backbone at ${backboneDir}; create one with \`r3mes genesis pretrain --config ${config} --out ${backboneDir}\``,
    )
  }
  const out = v.out
  const result = await runJobInWorker<FinetuneResult>(
    {
      kind: 'finetune',
      backend: stringOption(v, 'backend', 'auto'),
      backboneDir,
      steps: intOption(v, 'steps', 300),
      sequences: intOption(v, 'sequences', 8, 1, 1024),
      tokens: intOption(v, 'tokens', 128, 2, 4096),
      seed: stringOption(v, 'seed', 'r3mes-finetune'),
      lr: numberOption(v, 'lr', 2e-3, 1e-7, 1),
      evalTokens: intOption(v, 'eval-tokens', 16384, 512),
      dataFiles: listOption(v, 'data'),
      ...(typeof out === 'string' ? { outFile: out } : {}),
    },
    progressPrinter('finetune', io.progress),
    io.signal,
  )
  if (v.json === true) io.out(JSON.stringify(result))
  else {
    io.out(
      `held-out loss ${result.before.toFixed(4)} → ${result.after.toFixed(4)} nats/token (${(100 * result.relativeImprovement).toFixed(2)}% lower)`,
    )
    io.out(`${result.steps} steps on the ${result.backend} backend, ${Math.round(result.tokensPerSecond)} tokens/s`)
    if (result.adaptersFile !== undefined) io.out(`adapters: ${result.adaptersFile} (${result.adaptersCid})`)
  }
  return ExitCode.ok
}

async function check(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const backend = stringOption(v, 'backend', 'all')
  const backends = backend === 'all' ? availableBackends() : [oneOf(backend, availableBackends(), '--backend')]
  const result = await runJobInWorker<CheckResult>(
    {
      kind: 'check',
      backends,
      cases: intOption(v, 'cases', 200, 1, 100_000),
      updateGolden: v['update-golden'] === true,
    },
    progressPrinter('check', io.progress),
    io.signal,
  )
  if (v.json === true) io.out(JSON.stringify(result))
  else {
    io.out(`${result.cases} cases on ${result.backends.join(', ')}: ${result.mismatches} mismatches`)
    io.out(`golden hashes compared: ${result.goldenCompared} cases, ${result.goldenMismatches} mismatches`)
    for (const line of [...result.problems, ...result.details].slice(0, 20)) io.out(`  ${line}`)
  }
  return result.mismatches === 0 ? ExitCode.ok : ExitCode.failure
}

export const mlCommand: Command = {
  name: 'ml',
  summary: 'fine-tune LoRA adapters and check that every backend gives the same bytes',
  usage: 'r3mes ml <finetune|check|checkpoint> [options]',
  help: `Actions:
  finetune   LoRA fine-tuning of a backbone on the fiction genres of the Brown Corpus (or --data files);
             reports held-out loss before and after (nats/token) and tokens/s
  check      run seeded golden cases on every backend and compare SHA-256 of all outputs with each
             other and with the committed golden hashes; exits 1 on any mismatch
${checkpointHelp}

Options (finetune):
  --config NAME        model config whose committed backbone to use (default tiny)
  --backbone DIR       backbone artifact folder (default models/<config>)
  --steps N            training steps (default 300)
  --sequences N        sequences per step (default 8)
  --tokens N           tokens per sequence (default 128)
  --lr X               AdamW learning rate (default 0.002)
  --seed TEXT          seed of the adapter init and the data order (default r3mes-finetune)
  --data FILE          plain text file to train on (repeatable; every 10th is held out)
  --eval-tokens N      held-out tokens evaluated before and after (default 16384)
  --out FILE           write the trained adapters bundle there
  --backend NAME       ts, cpu, cuda or auto (default auto: cuda, else cpu, else ts)
  --json               print one JSON object: before, after, tokensPerSecond, backend, …

Options (check):
  --backend NAME       all (default: every backend available here), ts, cpu or cuda
  --cases N            number of seeded cases (default 200)
  --update-golden      rewrite src/ml/golden-hashes.json from the ts backend
  --json               print one JSON object: cases, backends, mismatches, …

Options (checkpoint):
  --out DIR            import: where to write the backbone artifacts
  --name NAME          import: the configuration's name (default: the checkpoint folder's name)
  --prompt TEXT        generate: the text to continue
  --max-tokens N       generate: tokens to generate (default 32)
  --backend NAME       generate: ts, cpu, cuda or auto (default auto)
  --json               print one JSON object`,
  options: {
    config: { type: 'string' },
    backbone: { type: 'string' },
    steps: { type: 'string' },
    sequences: { type: 'string' },
    tokens: { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    data: { type: 'string', multiple: true },
    'eval-tokens': { type: 'string' },
    out: { type: 'string' },
    backend: { type: 'string' },
    cases: { type: 'string' },
    'update-golden': { type: 'boolean' },
    name: { type: 'string' },
    prompt: { type: 'string' },
    'max-tokens': { type: 'string' },
    json: { type: 'boolean' },
  },
  allowPositionals: true,
  async run(args, io) {
    const [action, ...extra] = args.positionals
    if (action === 'checkpoint') return checkpointCommand(args, extra, io)
    if (extra.length > 0) throw new InvalidArgumentError(`unexpected arguments: ${extra.join(' ')}`)
    if (action === 'finetune') return finetune(args, io)
    if (action === 'check') return check(args, io)
    throw new InvalidArgumentError(
      `r3mes ml needs an action: finetune, check or checkpoint${action ? ` (got '${action}')` : ''}`,
    )
  },
}
