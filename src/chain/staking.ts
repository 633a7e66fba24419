/**
 * Transfers, staking, role registration and unbonding.
 *
 * One stake per address backs all of its roles: the stake must reach the largest minimum of
 * the roles it holds. Unstaked tokens wait `unbondingBlocks` before they return to the
 * balance, and slashing reaches them while they wait, so leaving does not escape a verdict.
 *
 * A staker has three keys: its account key (the sender of its transactions), a consensus key
 * and a libp2p peer id, both the account key's until a `register` names others with proofs of
 * possession (key-proofs.ts). No two stakers share a consensus key or a peer id: the validator
 * set and the peer lookups map each back to one staker.
 */

import { fromHex, toHex } from '../codec/bytes.ts'
import { MAX_TOTAL_POWER } from '../consensus/validator-set.ts'
import type { BlockContext } from './context.ts'
import { reject, TxCode } from './errors.ts'
import { publicKeyOfPeerId, verifyKeyProof } from './key-proofs.ts'
import { isAddress, peerIdOfKey } from './keys.ts'
import { minStakeFor, POWER_REDUCTION, type Role } from './params.ts'
import type { ChainState, Staker } from './state.ts'
import type { Msg, SignedTx } from './tx.ts'

type MsgOf<T extends Msg['type']> = Extract<Msg, { type: T }>

export function requiredStake(state: ChainState, roles: readonly Role[]): bigint {
  let need = 0n
  for (const r of roles) {
    const m = minStakeFor(state.params, r)
    if (m > need) need = m
  }
  return need
}

/** Consensus voting power of a stake: whole tokens (0: too little to sit in the set). */
export function votingPower(stake: bigint): bigint {
  return stake / POWER_REDUCTION
}

/**
 * Refuse a change that would take the validators' total voting power past what the consensus
 * set accepts (MAX_TOTAL_POWER): the updates a block emits must always apply, or every node
 * would halt on the same block. `address` is about to hold `stake` with `roles`.
 */
function requirePowerFits(state: ChainState, address: string, stake: bigint, roles: readonly Role[]): void {
  const s = state.stakers.get(address)
  if (!roles.includes('validator') || s?.jailed === true) return
  let total = votingPower(stake)
  for (const v of state.withRole('validator')) if (v.address !== address) total += votingPower(v.weight)
  if (total > BigInt(MAX_TOTAL_POWER))
    reject(
      TxCode.votingPowerCap,
      `validators' total voting power would be ${total}, the limit is ${MAX_TOTAL_POWER} (whole tokens staked)`,
      { total: `${total}` },
    )
}

export function transfer(state: ChainState, tx: SignedTx, msg: MsgOf<'transfer'>): void {
  if (!isAddress(msg.to)) reject(TxCode.invalidField, `'msg.to' is not an r3mes address`, { field: 'msg.to' })
  if (msg.amount === 0n) reject(TxCode.invalidField, "'msg.amount' must be positive", { field: 'msg.amount' })
  state.debit(tx.sender, msg.amount)
  state.credit(msg.to, msg.amount)
}

export function stake(state: ChainState, tx: SignedTx, msg: MsgOf<'stake'>): void {
  if (msg.amount === 0n) reject(TxCode.invalidField, "'msg.amount' must be positive", { field: 'msg.amount' })
  state.debit(tx.sender, msg.amount)
  const s = state.stakers.get(tx.sender) ?? newStaker(state, tx)
  requirePowerFits(state, tx.sender, s.stake + msg.amount, s.roles)
  state.stakers.set(tx.sender, { ...s, stake: s.stake + msg.amount })
}

/** A first-time staker: its consensus key and peer id are its account key's until it names others. */
function newStaker(state: ChainState, tx: SignedTx): Staker {
  const pubKey = toHex(tx.pubKey)
  const peerId = peerIdOfKey(tx.pubKey)
  requireKeyFree(tx.sender, 'consensus key', state.stakerOfConsensusKey(pubKey))
  requireKeyFree(tx.sender, 'peer id', state.stakerOfPeerId(peerId))
  return {
    pubKey,
    consensusKey: pubKey,
    peerId,
    stake: 0n,
    roles: [],
    subnet: null,
    jailed: false,
    wasValidator: false,
  }
}

function requireKeyFree(sender: string, what: string, holder: string | undefined): void {
  if (holder !== undefined && holder !== sender)
    reject(TxCode.keyInUse, `the ${what} is already staker ${holder}'s`, { holder })
}

/**
 * The consensus key and peer id `s` has after `msg`. Each named key must come with a proof of
 * possession for the sender on this chain, and be no other staker's.
 *
 * A staker that is or has ever been a validator keeps its consensus key: equivocation evidence
 * stays valid after a validator leaves (slashing reaches unbonding tokens) and is checked
 * against the key that signed, and the consensus set takes a key change as a removal plus an
 * addition two heights later. A validator keeps its peer id while it holds the role (its peers
 * find it by that id); others may change theirs at any time.
 */
function keysAfter(
  state: ChainState,
  tx: SignedTx,
  s: Staker,
  msg: MsgOf<'register'>,
): Pick<Staker, 'consensusKey' | 'peerId'> {
  const chainId = state.globals.chainId
  let { consensusKey, peerId } = s
  if (msg.consensusKey !== undefined) {
    const key = fromHex(msg.consensusKey, 32) as Uint8Array
    if (!verifyKeyProof('consensus', key, chainId, tx.sender, msg.consensusKeyProof))
      reject(TxCode.badKeyProof, `'msg.consensusKeyProof' is not a proof by that key for ${tx.sender} on ${chainId}`, {
        field: 'msg.consensusKeyProof',
      })
    if (msg.consensusKey !== s.consensusKey) {
      if (s.wasValidator)
        reject(
          TxCode.keyLocked,
          'a staker that has been a validator keeps its consensus key (evidence of its votes is checked against it)',
          { field: 'msg.consensusKey' },
        )
      requireKeyFree(tx.sender, 'consensus key', state.stakerOfConsensusKey(msg.consensusKey))
      consensusKey = msg.consensusKey
    }
  }
  if (msg.peerId !== undefined) {
    const key = publicKeyOfPeerId(msg.peerId) as Uint8Array
    if (!verifyKeyProof('peer', key, chainId, tx.sender, msg.peerIdProof))
      reject(TxCode.badKeyProof, `'msg.peerIdProof' is not a proof by that peer's key for ${tx.sender} on ${chainId}`, {
        field: 'msg.peerIdProof',
      })
    if (msg.peerId !== s.peerId) {
      if (s.roles.includes('validator'))
        reject(TxCode.keyLocked, 'a validator keeps its peer id while it holds the role', { field: 'msg.peerId' })
      requireKeyFree(tx.sender, 'peer id', state.stakerOfPeerId(msg.peerId))
      peerId = msg.peerId
    }
  }
  return { consensusKey, peerId }
}

export function unstake(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'unstake'>): void {
  const s = state.stakers.get(tx.sender)
  if (s === undefined) reject(TxCode.notRegistered, 'sender has no stake')
  if (msg.amount === 0n || msg.amount > s.stake)
    reject(TxCode.invalidField, `'msg.amount' must be in 1..${s.stake}`, { field: 'msg.amount' })
  const left = s.stake - msg.amount
  // Leaving entirely drops every role; a partial unstake must keep the roles covered.
  if (left > 0n && left < requiredStake(state, s.roles))
    reject(TxCode.insufficientStake, `remaining stake ${left} is below what roles ${s.roles.join(',')} need`)
  state.stakers.set(tx.sender, { ...s, stake: left, roles: left === 0n ? [] : s.roles })
  const seq = state.globals.nextUnbonding
  const releaseHeight = ctx.height + state.params.unbondingBlocks
  state.unbonding.set(`${String(releaseHeight).padStart(12, '0')}/${String(seq).padStart(12, '0')}`, {
    address: tx.sender,
    amount: msg.amount,
    releaseHeight,
  })
  state.setMeta({ nextUnbonding: seq + 1 })
}

export function register(state: ChainState, tx: SignedTx, msg: MsgOf<'register'>): void {
  const s = state.stakers.get(tx.sender)
  if (s === undefined) reject(TxCode.insufficientStake, 'stake before registering a role')
  if (s.jailed && msg.roles.includes('validator'))
    reject(TxCode.invalidField, 'a jailed validator cannot register as a validator again')
  if (msg.roles.includes('miner') && msg.subnet === null)
    reject(TxCode.invalidField, 'a miner must name its subnet', { field: 'msg.subnet' })
  if (msg.subnet !== null && !state.subnets.has(String(msg.subnet)))
    reject(TxCode.invalidField, `subnet ${msg.subnet} does not exist`, { field: 'msg.subnet' })
  const need = requiredStake(state, msg.roles)
  if (s.stake < need)
    reject(TxCode.insufficientStake, `stake ${s.stake} is below ${need}, the minimum for ${msg.roles.join(',')}`)
  const keys = keysAfter(state, tx, s, msg)
  requirePowerFits(state, tx.sender, s.stake, msg.roles)
  state.stakers.set(tx.sender, {
    ...s,
    ...keys,
    roles: msg.roles,
    subnet: msg.subnet,
    wasValidator: s.wasValidator || msg.roles.includes('validator'),
  })
}

/** End of block: unbonded tokens whose delay is over return to their owners' balances. */
export function releaseUnbonded(state: ChainState, ctx: BlockContext): void {
  for (const [key, u] of state.unbonding.entries()) {
    if (u.releaseHeight > ctx.height) break // keys sort by release height
    state.unbonding.delete(key)
    state.credit(u.address, u.amount)
  }
}
