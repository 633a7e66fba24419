/**
 * `r3mes tx <action> … --node URL --home DIR`: sign a transaction with the home's account key
 * and send it through a node's public API (`POST /tx`), as a Cosmos `appd tx … --node` does.
 * The chain id, the account's nonce and the chain's minimum fee come from the node; a wrong
 * chain id is refused before anything is signed, an address with no account is named with
 * how to get funded, and the node's refusal (a fee too low, say) is shown with its code. By
 * default the command then waits, polling `GET /tx/<id>`, until a block holds the transaction.
 */
import { encodeTx } from '../../chain/tx.ts'
import { loadAccountKey, loadOperatorKeys } from '../../operator/home.ts'
import { namedKeysOf } from '../../operator/key-names.ts'
import { readPassphraseFile } from '../../operator/keystore.ts'
import { type Clock, sleep } from '../../runtime/clock.ts'
import { InvalidArgumentError, R3mesError } from '../../runtime/errors.ts'
import { SystemClock } from '../../runtime/system-clock.ts'
import { formatAmount } from '../../topology/amount.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { NodeClient, type TxLanding } from '../node-client.ts'
import { intOption, stringOption } from '../options.ts'
import { type ChainParamsJson, parseAmountArg, planTx, TX_ACTIONS } from '../tx-messages.ts'

/** How long `--wait` waits for a block to hold the transaction, unless --timeout says otherwise. */
const DEFAULT_WAIT_SECONDS = 60
/** How often the node is asked whether the transaction is in a block yet. */
const POLL_INTERVAL_MS = 250

/** The signer's address has no account on the chain: nothing to pay the fee with. */
export class UnknownAccountError extends R3mesError {
  constructor(address: string, chainId: string) {
    super(
      'ERR_UNKNOWN_ACCOUNT',
      `account ${address} does not exist on chain ${chainId}: it has never received tokens. Have it funded first (someone runs \`r3mes tx send ${address} AMOUNT\`, or the genesis lists it)`,
      { address, chainId },
    )
  }
}

/** The node's chain is not the one `--chain-id` names: nothing was signed. */
export class ChainIdMismatchError extends R3mesError {
  constructor(url: string, expected: string, actual: string) {
    super(
      'ERR_WRONG_CHAIN',
      `the node at ${url} runs chain '${actual}', not '${expected}' (--chain-id): nothing was signed`,
      { url, expected, actual },
    )
  }
}

/** The node refused the transaction, or the chain rejected it in a block; `code` is the chain's. */
export class TxFailedError extends R3mesError {}

/** A transaction that was taken but is in no block the node knows of yet, past the wait. */
export class TxWaitTimeoutError extends R3mesError {
  constructor(txId: string, seconds: number, url: string) {
    super(
      'ERR_TX_WAIT_TIMEOUT',
      `transaction ${txId} was taken but is in no block after ${seconds} s; \`r3mes query tx ${txId} --node ${url}\` shows it once it lands`,
      { txId, seconds },
    )
  }
}

/** Why the node refused, with what would fix it when the chain's params say (the minimum fee). */
function refusal(code: string, log: string, params: ChainParamsJson): string {
  if (code === 'ERR_FEE_TOO_LOW' && typeof params.minFee === 'string') {
    const min = formatAmount(BigInt(params.minFee))
    return `${log} (ur3mes): the chain's minimum fee is ${min}; pass --fee ${min.replace(' R3MES', '')} or more`
  }
  return log
}

async function waitForBlock(
  client: NodeClient,
  txId: string,
  seconds: number,
  clock: Clock,
  signal: AbortSignal | undefined,
): Promise<TxLanding> {
  const deadline = clock.monotonicMs() + seconds * 1000
  for (;;) {
    const landed = await client.txResult(txId)
    if (landed !== undefined) return landed
    if (clock.monotonicMs() >= deadline) throw new TxWaitTimeoutError(txId, seconds, client.url)
    // Kept alive: the process has nothing else to do while it waits for the chain.
    await sleep(clock, POLL_INTERVAL_MS, signal, { keepAlive: true })
  }
}

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const [action, ...rest] = args.positionals
  if (action === undefined) throw new InvalidArgumentError(`r3mes tx needs an action: ${TX_ACTIONS.join(', ')}`)
  const plan = planTx(action, rest, v)
  const nodeUrl = stringOption(v, 'node', '')
  if (nodeUrl === '')
    throw new InvalidArgumentError(
      "--node URL is required: the API of a node to send through (its ready line's 'api')",
      { option: 'node' },
    )
  const home = stringOption(v, 'home', '')
  if (home === '')
    throw new InvalidArgumentError('--home DIR is required: the home whose account key signs', { option: 'home' })
  const fee = v.fee === undefined ? undefined : parseAmountArg(stringOption(v, 'fee', ''), '--fee')
  const wait = v['no-wait'] !== true
  const waitSeconds = intOption(v, 'timeout', DEFAULT_WAIT_SECONDS, 1, 3600)
  const expectedChain = v['chain-id'] === undefined ? undefined : stringOption(v, 'chain-id', '')
  const json = v.json === true
  const clock = new SystemClock()
  const client = new NodeClient(nodeUrl, { clock })
  const passphraseFile = v['passphrase-file'] === undefined ? undefined : stringOption(v, 'passphrase-file', '')
  const unlock = passphraseFile === undefined ? {} : { passphrase: readPassphraseFile(passphraseFile) }
  const key = loadAccountKey(home, unlock)

  const { chainId } = await client.status()
  if (expectedChain !== undefined && expectedChain !== chainId)
    throw new ChainIdMismatchError(client.url, expectedChain, chainId)
  const params = (await client.query('params')) as ChainParamsJson
  const account = (await client.query(`account/${key.address}`)) as { nonce?: unknown } | null
  if (account === null || typeof account.nonce !== 'number') throw new UnknownAccountError(key.address, chainId)
  const planned = plan.build(params)
  // A register names the home's own consensus key and peer id (with their proofs) when they
  // are not the account key's, so a node set up with separate keys is found and can validate.
  const msg =
    planned.type === 'register'
      ? { ...planned, ...namedKeysOf(home, loadOperatorKeys(home, unlock), chainId) }
      : planned
  const tx = encodeTx({ chainId, nonce: account.nonce, fee: fee ?? BigInt(params.minFee ?? 0), msg }, key)
  const admission = await client.submitTx(tx)
  if (admission.code !== 'OK') {
    if (json) {
      io.out(JSON.stringify({ ...admission, height: null }))
      return ExitCode.failure
    }
    throw new TxFailedError(
      admission.code,
      `the node refused the transaction (${plan.summary}): ${refusal(admission.code, admission.log, params)}`,
      { txId: admission.txId },
    )
  }
  if (!wait) {
    io.out(
      json
        ? JSON.stringify({ ...admission, height: null })
        : `txId: ${admission.txId}\ncode: OK (sent, not waited for)`,
    )
    return ExitCode.ok
  }
  const landed = await waitForBlock(client, admission.txId, waitSeconds, clock, io.signal)
  if (json) io.out(JSON.stringify(landed))
  else if (landed.code === 'OK') io.out(`txId: ${landed.txId}\nheight: ${landed.height}\ncode: OK (${plan.summary})`)
  if (landed.code === 'OK') return ExitCode.ok
  if (json) return ExitCode.failure
  throw new TxFailedError(
    landed.code,
    `transaction ${landed.txId} (${plan.summary}) is in block ${landed.height} but the chain rejected it: ${landed.log}`,
    { txId: landed.txId, height: landed.height },
  )
}

export const txCommand: Command = {
  name: 'tx',
  summary: 'sign a transaction with the home account key and send it through a node',
  usage: 'r3mes tx <action> [args] --node URL --home DIR [--fee AMOUNT] [--chain-id ID] [--json] [--no-wait]',
  help: `Signs a transaction with DIR's account key (keys/account.key; keys/account.keystore.json,
opened with --passphrase-file; or the older node.key) and sends it to the node's API (POST
/tx). The node checks it against its chain and relays it, or refuses it with the chain's code.
Then, unless --no-wait, waits until a block holds it and prints its height and result.

Actions:
  send <to> <amount>                       move tokens to another account
  stake <amount>                           bond tokens (a role needs a minimum stake)
  unbond <amount>                          start unbonding staked tokens
  register <role>[,<role>] [--subnet K]    take roles: validator, miner, verifier, arbiter
                                           (a miner names its subnet; the home's consensus key
                                           and net/identity.key peer id are named with proofs
                                           when they are not the account key's)
  challenge <claimId> [--bond AMOUNT] [--trace CID]
                                           dispute a miner's claim (bond: the chain's least)
  appeal <challengeId> [--bond AMOUNT]     take a verifier's 'owner' on your challenge to an
                                           arbiter panel, with a second bond (within
                                           appealBlocks of the answer)
  propose param <name> <value> [...]       propose parameter changes (values as
                                           \`r3mes query params\` shows them)
  propose dataset <cid> <name> <shards>    propose a training data set
  vote <proposalId> yes|no|abstain         vote on an open proposal

Amounts are R3MES with at most 6 decimals (10, 0.5, 2r3mes) or base units (500ur3mes).

Options:
  --node URL         the node's API, e.g. http://127.0.0.1:26657 (required)
  --home DIR         the operator home whose account key signs (required)
  --passphrase-file FILE  opens an encrypted account key (keys/account.keystore.json)
  --fee AMOUNT       the fee (default: the chain's minimum fee)
  --chain-id ID      refuse, before signing, a node whose chain is another
  --no-wait          return once the node has taken the transaction
  --timeout SECONDS  how long to wait for a block (default ${DEFAULT_WAIT_SECONDS})
  --json             print the result as JSON {txId, code, log, height}`,
  options: {
    node: { type: 'string' },
    home: { type: 'string' },
    'passphrase-file': { type: 'string' },
    fee: { type: 'string' },
    'chain-id': { type: 'string' },
    'no-wait': { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    subnet: { type: 'string' },
    bond: { type: 'string' },
    trace: { type: 'string' },
  },
  allowPositionals: true,
  run,
}
