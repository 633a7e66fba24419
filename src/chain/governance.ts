/**
 * Governance: proposals to approve a data set (by CID) or to change parameters, voted by
 * stake until a deadline. At the deadline the proposal passes when the stake that voted reaches
 * `quorumBps` of all stake and "yes" outweighs "no"; weights are the voters' stakes at tally
 * time (tokens staked or unstaked during the vote count as they stand when it ends).
 */
import type { BlockContext } from './context.ts'
import { GenesisError, reject, TxCode } from './errors.ts'
import { isCid } from './genesis.ts'
import { isParamName, type Params, parseParam, validateParams } from './params.ts'
import type { ChainState, Proposal } from './state.ts'
import type { Msg, SignedTx } from './tx.ts'

type MsgOf<T extends Msg['type']> = Extract<Msg, { type: T }>

/** Parameters after applying `changes`; throws GenesisError naming the bad field. */
export function applyChanges(params: Params, changes: Readonly<Record<string, string | number>>): Params {
  const out: Record<string, unknown> = { ...params }
  for (const [name, value] of Object.entries(changes)) {
    if (!isParamName(name)) throw new GenesisError(`changes.${name}`, 'is not a chain parameter')
    out[name] = parseParam(name, value, `changes.${name}`)
  }
  return validateParams(out as unknown as Params, 'changes')
}

export function propose(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'propose'>): void {
  const c = msg.content
  if (c.kind === 'dataset') {
    if (!isCid(c.cid)) reject(TxCode.invalidField, "'msg.content.cid' is not a CID", { field: 'msg.content.cid' })
    if (state.datasets.has(c.cid)) reject(TxCode.duplicate, `data set ${c.cid} is already approved`)
  } else {
    if (Object.keys(c.changes).length === 0) reject(TxCode.invalidField, 'a parameter proposal must change something')
    try {
      applyChanges(state.params, c.changes)
    } catch (error) {
      if (error instanceof GenesisError) reject(TxCode.invalidField, error.message, { field: error.field })
      throw error
    }
  }
  const id = `p-${state.globals.nextProposal}`
  state.setMeta({ nextProposal: state.globals.nextProposal + 1 })
  state.proposals.set(id, {
    id,
    proposer: tx.sender,
    content: c,
    submitHeight: ctx.height,
    votingEnd: ctx.height + state.params.votingPeriodBlocks,
    votes: {},
    status: 'voting',
    tally: null,
  })
}

export function vote(state: ChainState, ctx: BlockContext, tx: SignedTx, msg: MsgOf<'vote'>): void {
  const p = state.proposals.get(msg.proposalId)
  if (p === undefined) reject(TxCode.unknownProposal, `no proposal ${msg.proposalId}`)
  if (p.status !== 'voting' || ctx.height > p.votingEnd)
    reject(TxCode.votingClosed, `voting on ${p.id} ended at height ${p.votingEnd}`)
  if (state.stakeOf(tx.sender) === 0n) reject(TxCode.insufficientStake, 'only stakers vote')
  // A later vote replaces an earlier one.
  state.proposals.set(p.id, { ...p, votes: { ...p.votes, [tx.sender]: msg.option } })
}

/** End of block: tally proposals whose voting ends at this height and apply those that pass. */
export function tallyProposals(state: ChainState, ctx: BlockContext): void {
  for (const [, p] of state.proposals.entries()) {
    if (p.status !== 'voting' || p.votingEnd !== ctx.height) continue
    const weight = { yes: 0n, no: 0n, abstain: 0n }
    for (const [voter, option] of Object.entries(p.votes)) weight[option] += state.stakeOf(voter)
    const total = state.totalStake()
    const voted = weight.yes + weight.no + weight.abstain
    const quorum = voted * 10_000n >= total * BigInt(state.params.quorumBps) && voted > 0n
    let passed = quorum && weight.yes > weight.no
    if (passed) passed = enact(state, ctx, p)
    const tally = { yes: `${weight.yes}`, no: `${weight.no}`, abstain: `${weight.abstain}`, total: `${total}` }
    state.proposals.set(p.id, { ...p, status: passed ? 'passed' : 'rejected', tally })
  }
}

function enact(state: ChainState, ctx: BlockContext, p: Proposal): boolean {
  const c = p.content
  if (c.kind === 'dataset') {
    if (state.datasets.has(c.cid)) return false
    state.datasets.set(c.cid, { cid: c.cid, name: c.name, shardCount: c.shardCount, approvedHeight: ctx.height })
    return true
  }
  try {
    // Re-validated: an earlier proposal may have changed what these changes combine with.
    state.setMeta({ params: applyChanges(state.params, c.changes) })
    return true
  } catch (error) {
    if (error instanceof GenesisError) return false
    throw error
  }
}
