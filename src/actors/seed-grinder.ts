/**
 * The `seedGrinder` misbehaviour (tests and chaos scenarios): a validator that, whenever it
 * proposes a fresh block, tries to steer the chain's randomness (the beacon in the header,
 * consensus/beacon.ts), around its privval:
 *
 * - at a block that opens a training window, when its honest beacon draws it as the window's
 *   aggregator it proposes honestly (the luck every validator has, by stake); otherwise it
 *   alternates between withholding the proposal (the round times out and the next proposer,
 *   with its own key, gives another beacon: the one redraw the beacon leaves it) and forging;
 * - anywhere else, and on the forging turns, it swaps the block for a twin whose beacon it
 *   chose (the first of a few candidates that draws it as aggregator) beside a VRF proof over
 *   that candidate instead of the previous beacon, a proof that cannot verify.
 *
 * Honest validators refuse every forged block (validateBlock), so the round moves on and the
 * chain keeps committing; no committed beacon is ever one the grinder picked. Re-proposals of
 * a block some round already prevoted (polRound ≥ 0) go out untouched: others hold that block.
 */
import { addressOf as chainAddressOf } from '../chain/keys.ts'
import type { ChainReader } from '../chain/reader.ts'
import { aggregatorDraw } from '../chain/windows.ts'
import { bytesEqual, toHex } from '../codec/bytes.ts'
import { sha256 } from '../codec/hash.ts'
import { beaconAlpha } from '../consensus/beacon.ts'
import { hashBlock } from '../consensus/block.ts'
import { addressOf, type Signer } from '../consensus/keys.ts'
import type { ConsensusMessage, ConsensusTransport } from '../consensus/messages.ts'
import { proposalSignBytes } from '../consensus/signing.ts'
import type { Block } from '../consensus/types.ts'
import type { Logger } from '../runtime/logger.ts'

/** Candidate beacons the grinder tries per forged block (it needs only one that draws it). */
const CANDIDATES_PER_FORGERY = 16
/** Decisions remembered per (height, round), so a re-sent proposal gets the same treatment. */
const REMEMBERED_DECISIONS = 8
const CANDIDATE_TAG = new TextEncoder().encode('seed-grinder/candidate\0')

export type GrinderMove = 'honest' | 'withheld' | 'forged'

export interface SeedGrinderInit {
  readonly chainId: string
  readonly signer: Signer
  /** The honest link: everything else the core sends still goes through it. */
  readonly link: ConsensusTransport
  /** The chain as executed here: which height opens a window, and the validators' stakes. */
  readonly chain: ChainReader
  readonly logger: Logger
}

export interface SeedGrinderTransport extends ConsensusTransport {
  /** How often it proposed honestly, withheld, or forged. */
  readonly moves: ReadonlyMap<GrinderMove, number>
}

export function seedGrinderTransport(init: SeedGrinderInit): SeedGrinderTransport {
  const { chainId, signer, link, chain } = init
  const log = init.logger.child({ misbehaviour: 'seedGrinder' })
  const myConsensusAddress = addressOf(signer.publicKey)
  // The staker that named this consensus key (a legacy single-key node: its own address).
  const consensusKey = toHex(signer.publicKey)
  const me =
    chain.stakers().find((s) => s.staker.consensusKey === consensusKey)?.address ?? chainAddressOf(signer.publicKey)
  const moves = new Map<GrinderMove, number>()
  /** What went out for each of its own proposals, by "height/round" (null: withheld). */
  const decisions = new Map<string, ConsensusMessage | null>()
  let openingsMissed = 0

  const drawsMe = (beacon: Uint8Array): boolean => aggregatorDraw(beacon, chain.withRole('validator')) === me

  /** The next block opens a window when none is open yet or the current one closes at its height. */
  const opensWindow = (height: number): boolean => {
    const current = chain.currentWindow()
    return current === null || height >= current.closeHeight
  }

  const forge = (m: Extract<ConsensusMessage, { kind: 'proposal' }>): ConsensusMessage => {
    const honest = m.block.header.beacon
    let chosen = sha256(CANDIDATE_TAG, honest, Uint8Array.of(0))
    for (let i = 0; i < CANDIDATES_PER_FORGERY; i++) {
      const candidate = sha256(CANDIDATE_TAG, honest, Uint8Array.of(i))
      if (drawsMe(candidate)) {
        chosen = candidate
        break
      }
    }
    const block: Block = {
      ...m.block,
      header: { ...m.block.header, beacon: chosen, vrfProof: signer.proveVrf(beaconAlpha(chosen)) },
    }
    const { signature: _, ...unsigned } = m.proposal
    const proposal = { ...unsigned, blockHash: hashBlock(block) }
    return {
      kind: 'proposal',
      proposal: { ...proposal, signature: signer.sign(proposalSignBytes(chainId, proposal)) },
      block,
    }
  }

  const decide = (m: Extract<ConsensusMessage, { kind: 'proposal' }>): ConsensusMessage | null => {
    const { height, round } = m.proposal
    const key = `${height}/${round}`
    const known = decisions.get(key)
    if (known !== undefined) return known
    let move: GrinderMove
    let out: ConsensusMessage | null
    const opening = opensWindow(height)
    if (opening && drawsMe(m.block.header.beacon)) [move, out] = ['honest', m]
    else if (opening && openingsMissed++ % 2 === 0) [move, out] = ['withheld', null]
    else [move, out] = ['forged', forge(m)]
    moves.set(move, (moves.get(move) ?? 0) + 1)
    log.info({ height, round, move, opensWindow: opening }, 'steering the beacon')
    if (decisions.size >= REMEMBERED_DECISIONS) decisions.delete(decisions.keys().next().value as string)
    decisions.set(key, out)
    return out
  }

  /** The message to send in place of `message` (null: send nothing). */
  const steer = (message: ConsensusMessage): ConsensusMessage | null => {
    if (message.kind !== 'proposal' || message.proposal.polRound !== -1) return message
    if (!bytesEqual(message.block.header.proposer, myConsensusAddress)) return message
    return decide(message)
  }

  return {
    moves,
    peers: link.peers?.bind(link),
    send: (peer, message) => {
      const out = steer(message)
      if (out !== null) link.send(peer, out)
    },
    broadcast: (message) => {
      const out = steer(message)
      if (out !== null) link.broadcast(out)
    },
  }
}
