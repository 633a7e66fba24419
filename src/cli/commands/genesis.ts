/**
 * `r3mes genesis`: quantization-aware pretraining of the backbone a network starts from, and
 * the ceremony by which operators build the genesis together (genesis-ceremony.ts).
 */
import type { PretrainResult } from '../../ml/jobs/job.ts'
import { runJobInWorker } from '../../ml/jobs/run-in-worker.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { intOption, numberOption, stringOption } from '../options.ts'
import { progressPrinter } from '../progress.ts'
import { genesisAddAccount, genesisCollect, genesisGentx, genesisInit, genesisValidate } from './genesis-ceremony.ts'
import { defaultBackboneDir } from './ml.ts'

/** Each action and how many positional arguments it takes after its name. */
const ACTIONS: Record<
  string,
  { run: (args: ParsedCommandArgs, io: CliIo) => Promise<number>; positionals: [number, number] }
> = {
  pretrain: { run: pretrain, positionals: [0, 0] },
  init: { run: genesisInit, positionals: [0, 0] },
  'add-account': { run: genesisAddAccount, positionals: [2, 2] },
  gentx: { run: genesisGentx, positionals: [0, 0] },
  collect: { run: genesisCollect, positionals: [0, 0] },
  validate: { run: genesisValidate, positionals: [0, 1] },
}

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
    io.out(`held-out loss ${result.heldOutLoss.toFixed(4)} nats/token (uniform: ${result.uniformLoss.toFixed(4)})`)
    io.out(
      `${result.steps} steps (resumed from ${result.resumedFrom}) on ${result.backend}, ${Math.round(result.tokensPerSecond)} tokens/s`,
    )
  }
  return ExitCode.ok
}

export const genesisCommand: Command = {
  name: 'genesis',
  summary: 'pretrain the backbone; build a genesis with other operators (init, add-account, gentx, collect, validate)',
  usage: `r3mes genesis pretrain [options]
       r3mes genesis init --home DIR --chain-id ID [--model DIR | --config NAME] [--subnets 0:4,4:8] [options]
       r3mes genesis add-account --home DIR ADDRESS AMOUNT
       r3mes genesis gentx --home DIR --stake AMOUNT --roles ROLE[,ROLE] [--subnet K] [--out FILE]
       r3mes genesis collect --home DIR [--gentx-dir DIR]
       r3mes genesis validate [FILE | --home DIR]`,
  help: `Actions:
  pretrain     quantization-aware pretraining (latent float weights, ternary forward, straight-through
               backward) on the non-fiction genres of the Brown Corpus; resumable: it checkpoints into
               --out and continues from there when run again with the same options
  init         write a draft DIR/genesis.json: chain id, parameters, the backbone split into subnets
               (one CID per subnet's layer range, computed from the model folder), the data set
  add-account  fund ADDRESS with AMOUNT R3MES (e.g. 1000 or 0.5) in the draft; an address is added once
  gentx        sign this home's self-stake against the draft: the account key signs stake, roles and
               subnet, the consensus key and libp2p identity prove they are this operator's; writes
               DIR/gentx/gentx-ADDRESS.json (never over an existing file)
  collect      verify the gentxs in DIR/gentx (or --gentx-dir), move each stake out of its account's
               balance, and rewrite DIR/genesis.json with the stakers and their gentxs
  validate     check a final genesis: every field, every gentx's signature and proofs, every staker
               backed by its gentx; prints each problem and exits 65 when there is one

Pretrain options:
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
  --json                 print one JSON object (pretrain, validate)

Ceremony options:
  --home DIR             the operator's home (genesis.json, keys/, net/identity.key, gentx/)
  --chain-id ID          (init) the chain's id: [a-z0-9][a-z0-9-]{0,47}
  --model DIR            (init) the backbone folder (default models/<--config>)
  --config NAME          (init) the committed backbone models/NAME (default tiny)
  --subnets RANGES       (init) layer ranges FIRST:END in pipeline order (default one subnet: all layers)
  --preset NAME          (init) production or localTestnet parameters (default production)
  --param NAME=VALUE     (init) a chain parameter over the preset, as genesis.json writes it; repeatable
  --genesis-time TIME    (init) ms since 1970 or ISO 8601 (default 0)
  --dataset-shards N     (init) shards of the approved data set (default 64)
  --stake AMOUNT         (gentx) the self-stake in R3MES, taken out of the account's genesis balance
  --roles LIST           (gentx) validator, miner, verifier, arbiter, comma-separated
  --subnet K             (gentx) the subnet a miner trains
  --moniker NAME         (gentx) the operator's name (default: config.toml's moniker, else the address)
  --passphrase-file FILE (gentx) opens an encrypted account key (keys/account.keystore.json)
  --out FILE             (gentx) where to write the gentx
  --gentx-dir DIR        (collect) the folder of gentx files (default DIR/gentx)`,
  options: {
    config: { type: 'string' },
    out: { type: 'string' },
    'passphrase-file': { type: 'string' },
    steps: { type: 'string' },
    sequences: { type: 'string' },
    tokens: { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    'checkpoint-every': { type: 'string' },
    'eval-tokens': { type: 'string' },
    backend: { type: 'string' },
    json: { type: 'boolean' },
    home: { type: 'string' },
    'chain-id': { type: 'string' },
    model: { type: 'string' },
    subnets: { type: 'string' },
    preset: { type: 'string' },
    param: { type: 'string', multiple: true },
    'genesis-time': { type: 'string' },
    'dataset-shards': { type: 'string' },
    stake: { type: 'string' },
    roles: { type: 'string' },
    subnet: { type: 'string' },
    moniker: { type: 'string' },
    'gentx-dir': { type: 'string' },
  },
  allowPositionals: true,
  async run(args, io) {
    const [name, ...rest] = args.positionals
    const action = name === undefined ? undefined : ACTIONS[name]
    if (name === undefined || action === undefined || !Object.hasOwn(ACTIONS, name))
      throw new InvalidArgumentError(
        `r3mes genesis needs an action: ${Object.keys(ACTIONS).join(', ')}${name ? ` (got '${name}')` : ''}`,
      )
    const [min, max] = action.positionals
    if (rest.length > max) throw new InvalidArgumentError(`unexpected arguments: ${rest.slice(max).join(' ')}`)
    if (rest.length < min) throw new InvalidArgumentError(`r3mes genesis ${name} needs ${min} arguments`)
    return action.run({ values: args.values, positionals: rest }, io)
  },
}
