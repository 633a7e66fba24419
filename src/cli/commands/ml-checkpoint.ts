/**
 * `r3mes ml checkpoint`: published BitNet b1.58 checkpoints in the Hugging Face layout
 * (src/ml/checkpoint/hf-bitnet.ts): inspect one, import it as this project's backbone
 * artifacts, or run it.
 */
import { basename, resolve } from 'node:path'
import { saveBackbone } from '../../ml/artifacts.ts'
import { inspectHfBitNet, loadHfBitNet } from '../../ml/checkpoint/hf-bitnet.ts'
import { greedyContinuation } from '../../ml/checkpoint/run.ts'
import { loadCheckpointTokenizer } from '../../ml/checkpoint/tokenizer.ts'
import { selectBackend } from '../../ml/kernels/select.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { type CliIo, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { intOption, stringOption } from '../options.ts'

export const checkpointHelp = `  checkpoint inspect DIR            configuration, parameter count and tensors of a Hugging Face BitNet
                                    b1.58 checkpoint (config.json, model.safetensors or shards, tokenizer.json)
  checkpoint import DIR --out DIR2  write it as this project's backbone artifacts (manifest + CID files)
  checkpoint generate DIR --prompt TEXT
                                    greedy continuation of TEXT by the checkpoint (its tokenizer.json when
                                    present, else byte tokens)`

function requireDir(positionals: readonly string[], action: string): string {
  const [dir, ...extra] = positionals
  if (dir === undefined) throw new InvalidArgumentError(`r3mes ml checkpoint ${action} needs a checkpoint directory`)
  if (extra.length > 0) throw new InvalidArgumentError(`unexpected arguments: ${extra.join(' ')}`)
  return resolve(dir)
}

export async function checkpointCommand(
  args: ParsedCommandArgs,
  positionals: readonly string[],
  io: CliIo,
): Promise<number> {
  const [action, ...rest] = positionals
  const v = args.values
  const json = v.json === true
  if (action === 'inspect') {
    const result = inspectHfBitNet(requireDir(rest, action))
    if (json) io.out(JSON.stringify(result))
    else {
      io.out(`config: ${JSON.stringify(result.config)}`)
      io.out(
        `weight_scale: ${result.linearClass} (${result.linearClass === 'autobitlinear' ? 'multiplies' : 'divides'})`,
      )
      io.out(`parameters: ${result.parameters}`)
      for (const t of result.tensors) io.out(`  ${t.name} ${t.dtype}[${t.shape.join(', ')}] ${t.file}`)
      if (result.unused.length > 0) io.out(`unused tensors: ${result.unused.join(', ')}`)
      io.out(`tokenizer: ${result.tokenizer ?? 'none'}`)
    }
    return ExitCode.ok
  }
  if (action === 'import') {
    const dir = requireDir(rest, action)
    const out = v.out
    if (typeof out !== 'string') throw new InvalidArgumentError('r3mes ml checkpoint import needs --out DIR')
    const model = loadHfBitNet(dir, stringOption(v, 'name', basename(dir)))
    const manifest = saveBackbone(resolve(out), model.stage, {
      source: 'huggingface-bitnet',
      checkpoint: basename(dir),
      linearClass: model.linearClass,
    })
    if (json) io.out(JSON.stringify({ out: resolve(out), config: manifest.config, layers: manifest.layers.length }))
    else io.out(`backbone '${manifest.config.name}' (${manifest.layers.length} layers) written to ${resolve(out)}`)
    return ExitCode.ok
  }
  if (action === 'generate') {
    const dir = requireDir(rest, action)
    const prompt = v.prompt
    if (typeof prompt !== 'string' || prompt.length === 0) {
      throw new InvalidArgumentError('r3mes ml checkpoint generate needs --prompt TEXT')
    }
    const maxTokens = intOption(v, 'max-tokens', 32, 1, 4096)
    const selection = selectBackend(stringOption(v, 'backend', 'auto'))
    if (selection.notice !== undefined) io.progress.write(`${selection.notice}\n`)
    const model = loadHfBitNet(dir)
    const tokenizer = model.tokenizer === null ? null : loadCheckpointTokenizer(model.tokenizer)
    const promptIds = tokenizer === null ? [...Buffer.from(prompt, 'utf8')] : tokenizer.encode(prompt)
    const completion = greedyContinuation(selection.kernels, model.stage, promptIds, maxTokens)
    const text = tokenizer === null ? Buffer.from(completion).toString('utf8') : tokenizer.decode(completion)
    if (json) io.out(JSON.stringify({ promptIds, completionIds: completion, text, backend: selection.kernels.name }))
    else io.out(text)
    return ExitCode.ok
  }
  throw new InvalidArgumentError(
    `r3mes ml checkpoint needs an action: inspect, import or generate${action ? ` (got '${action}')` : ''}`,
  )
}
