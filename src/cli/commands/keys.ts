/** `r3mes keys show`: the public side of a home's keys (address, consensus key, peer id), no secrets. */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signKeyProof } from '../../chain/key-proofs.ts'
import { readIdentity } from '../../net/identity.ts'
import {
  CONSENSUS_KEY_FILE,
  IDENTITY_KEY_FILE,
  LEGACY_NODE_KEY_FILE,
  type PublicOperatorKeys,
  readKeySeed,
  showOperatorKeys,
} from '../../operator/home.ts'
import { CorruptDataError, InvalidArgumentError } from '../../runtime/errors.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { stringOption } from '../options.ts'

/** What `init` and `keys show` print: public keys, and with a chain id the proofs that bind them to the account. */
export interface HomeKeysView extends PublicOperatorKeys {
  /** The libp2p peer id; undefined in a home whose node has not run yet and has no identity file. */
  readonly peerId: string | undefined
  readonly chainId?: string
  /** Signature by the consensus key over the account address on `chainId` (src/chain/key-proofs.ts). */
  readonly consensusProof?: string
  /** Signature by the libp2p identity key over the account address on `chainId`. */
  readonly peerProof?: string
}

/** The public keys of `home`, and the key proofs for `chainId` when it is given. */
export async function describeHomeKeys(home: string, chainId: string | undefined): Promise<HomeKeysView> {
  const keys = showOperatorKeys(home)
  const identity = await readIdentity(join(home, 'net'))
  if (identity !== undefined && identity.type !== 'Ed25519') {
    throw new CorruptDataError(`${join(home, IDENTITY_KEY_FILE)} is a ${identity.type} key; this network uses Ed25519`)
  }
  const peerId = identity === undefined ? undefined : peerIdFromPrivateKey(identity).toString()
  if (chainId === undefined) return { ...keys, peerId }
  const consensusFile = existsSync(join(home, CONSENSUS_KEY_FILE)) ? CONSENSUS_KEY_FILE : LEGACY_NODE_KEY_FILE
  const consensusSeed = readKeySeed(join(home, consensusFile))
  return {
    ...keys,
    peerId,
    chainId,
    consensusProof: signKeyProof('consensus', consensusSeed, chainId, keys.address),
    // An Ed25519 private key's raw form is its 32-byte seed followed by its public key.
    ...(identity === undefined
      ? {}
      : { peerProof: signKeyProof('peer', identity.raw.subarray(0, 32), chainId, keys.address) }),
  }
}

/** Print `view` as lines for a person, or as one JSON object. */
export function printHomeKeys(view: HomeKeysView & { home: string; moniker?: string }, json: boolean, io: CliIo): void {
  if (json) {
    io.out(JSON.stringify(view))
    return
  }
  const lines: [string, string | undefined][] = [
    ['home', view.home],
    ['moniker', view.moniker],
    ['address', view.address],
    ['account public key', `${view.accountPublicKey}${view.encrypted ? ' (stored encrypted)' : ''}`],
    ['consensus public key', view.consensusPublicKey],
    ['peer id', view.peerId ?? 'none yet (the node writes net/identity.key when it first starts)'],
    ['chain id', view.chainId],
    ['consensus key proof', view.consensusProof],
    ['peer id proof', view.peerProof],
  ]
  const width = Math.max(...lines.map(([label]) => label.length))
  for (const [label, value] of lines) if (value !== undefined) io.out(`${`${label}:`.padEnd(width + 1)} ${value}`)
}

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const [action, ...extra] = args.positionals
  if (action !== 'show') {
    throw new InvalidArgumentError(
      action === undefined ? 'an action is required: show' : `unknown action '${action}': the action is show`,
    )
  }
  if (extra.length > 0) throw new InvalidArgumentError(`unexpected arguments: ${extra.join(' ')}`)
  const v = args.values
  const home = stringOption(v, 'home', '')
  if (home === '') throw new InvalidArgumentError('--home DIR is required: the node home whose keys to show')
  const chainId = v['chain-id'] === undefined ? undefined : stringOption(v, 'chain-id', '')
  printHomeKeys({ home, ...(await describeHomeKeys(home, chainId)) }, v.json === true, io)
  return ExitCode.ok
}

export const keysCommand: Command = {
  name: 'keys',
  summary: "show a node home's address, consensus public key and peer id",
  usage: 'r3mes keys show --home DIR [--chain-id ID] [--json]',
  help: `Actions:
  show   print the account address and public key, the consensus public key and the peer id of
         the home; no secret is printed and no passphrase is needed

Options:
  --home DIR      the node home (required)
  --chain-id ID   also print the proofs that the consensus key and the peer id belong to the
                  account on chain ID (what a gentx or a registration carries)
  --json          print one JSON object`,
  options: {
    home: { type: 'string' },
    'chain-id': { type: 'string' },
    json: { type: 'boolean' },
  },
  allowPositionals: true,
  run,
}
