/**
 * The misbehaviour invariants of a simulated run (src/sim/invariants.ts), each fed a real chain
 * state (a local-testnet genesis) altered to hold what must make it fire, and the same state
 * without it, where it must stay quiet.
 */
import assert from 'node:assert/strict'
import { ChainApp } from '../../src/chain/app.ts'
import { labelCid, localTestnetGenesis } from '../../src/chain/genesis.ts'
import { testKey } from '../../src/chain/keys.ts'
import type { ChainState, Challenge, Claim } from '../../src/chain/state.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { vrfProofToHash } from '../../src/codec/vrf.ts'
import { beaconAlpha, nextBeacon } from '../../src/consensus/beacon.ts'
import { signerFromSeed } from '../../src/consensus/keys.ts'
import { EQUIVOCATION_DEADLINE_HEIGHTS, Invariants, type MisbehaviourWatch } from '../../src/sim/invariants.ts'

const validator = testKey('inv/validator/0')
const miner = testKey('inv/miner/0')
const verifier = testKey('inv/verifier/0')
const griefer = testKey('inv/griefer/0')

function freshState(): ChainState {
  const genesis = localTestnetGenesis({
    chainId: 'inv',
    validators: [validator],
    miners: [[miner, testKey('inv/miner/1')]],
    verifiers: [verifier],
    arbiters: [testKey('inv/arbiter/0')],
    funded: [griefer],
  })
  return new ChainApp(genesis).state
}

function claim(id: string, over: Partial<Claim> = {}): Claim {
  return {
    id,
    kind: 'submission',
    owner: miner.address,
    window: 0,
    subnet: 0,
    taskId: 't',
    cid: labelCid(id),
    height: 1,
    status: 'accepted',
    flag: null,
    challengeUntil: 10,
    metadata: '{}',
    previousCid: null,
    claims: [],
    ...over,
  }
}

function challenge(id: string, claimId: string, over: Partial<Challenge> = {}): Challenge {
  return {
    id,
    kind: 'fault',
    claimId,
    challenger: griefer.address,
    bond: 1n,
    challengerTrace: null,
    openedHeight: 1,
    seed: '00',
    stage: 'resolved',
    attempt: 0,
    claimUntil: 2,
    eligible: {},
    eligibleStake: 0n,
    verifier: null,
    tried: [],
    deadline: 5,
    verifierBeta: null,
    verifierVerdict: null,
    appealBond: 0n,
    panelSeed: null,
    panel: [],
    panelRound: 0,
    votes: {},
    penalized: [],
    priorStatus: 'accepted',
    outcome: 'owner',
    settledHeight: 3,
    ...over,
  }
}

const none: MisbehaviourWatch = {
  copies: new Set(),
  withheld: new Set(),
  griefers: new Set(),
  cheats: new Map(),
  equivocatedAt: new Map(),
}
const honest = new Set([validator.address, miner.address, verifier.address])
const kinds = (inv: Invariants): string[] => inv.violations.map((v) => v.invariant)

describe('sim: the misbehaviour invariants', () => {
  it('a copy credited or accepted unflagged is paid; a flagged one is not', () => {
    const state = freshState()
    state.claims.set('c1', claim('c1', { status: 'flagged', flag: 'copied' }))
    const inv = new Invariants({ honest })
    inv.afterBlockMisbehaviours(state, 4, 0, { ...none, copies: new Set(['c1']) })
    assert.deepEqual(kinds(inv), [])
    state.claims.set('c1', claim('c1'))
    inv.afterBlockMisbehaviours(state, 5, 0, { ...none, copies: new Set(['c1']) })
    assert.deepEqual(kinds(inv), ['copy-paid'])
    assert.equal(inv.violations[0]?.height, 5)
  })

  it('a withheld submission named by an aggregate breaks withheld-aggregated', () => {
    const state = freshState()
    state.claims.set('w1', claim('w1'))
    state.claims.set('agg', claim('agg', { kind: 'aggregate', owner: validator.address, claims: ['other'] }))
    state.aggregations.set('0/0', {
      window: 0,
      subnet: 0,
      stage: 'submitted',
      attempt: 0,
      aggregator: validator.address,
      tried: [],
      dueHeight: 1,
      deadline: 9,
      claimId: 'agg',
      finishedHeight: null,
    })
    const inv = new Invariants({ honest })
    const watch = { ...none, withheld: new Set(['w1']) }
    inv.afterBlockMisbehaviours(state, 6, 0, watch)
    assert.deepEqual(kinds(inv), [])
    state.claims.set('agg', claim('agg', { kind: 'aggregate', owner: validator.address, claims: ['other', 'w1'] }))
    inv.afterBlockMisbehaviours(state, 7, 0, watch)
    assert.deepEqual(kinds(inv), ['withheld-aggregated'])
  })

  it('an honest verifier penalized in a dispute of withheld content breaks withheld-blamed, a misbehaving one does not', () => {
    const state = freshState()
    state.challenges.set('ch-0', challenge('ch-0', 'w1', { tried: [griefer.address] }))
    const inv = new Invariants({ honest })
    const watch = { ...none, withheld: new Set(['w1']) }
    inv.afterBlockMisbehaviours(state, 8, 0, watch)
    assert.deepEqual(kinds(inv), [])
    state.challenges.set('ch-0', challenge('ch-0', 'w1', { tried: [verifier.address] }))
    inv.afterBlockMisbehaviours(state, 9, 0, watch)
    inv.afterBlockMisbehaviours(state, 10, 0, watch)
    assert.deepEqual(kinds(inv), ['withheld-blamed'], 'reported once')
  })

  it('a griefing challenge upheld breaks griefing-upheld; one lost is the rule working', () => {
    const state = freshState()
    state.challenges.set('ch-0', challenge('ch-0', 'h1'))
    const inv = new Invariants({ honest })
    const watch = { ...none, griefers: new Set([griefer.address]) }
    inv.afterBlockMisbehaviours(state, 3, 0, watch)
    assert.deepEqual(kinds(inv), [])
    state.challenges.set('ch-1', challenge('ch-1', 'h2', { outcome: 'challenger' }))
    inv.afterBlockMisbehaviours(state, 4, 0, watch)
    assert.deepEqual(kinds(inv), ['griefing-upheld'])
    // A griefer challenges what it checks, wrong claims too: winning on a cheat is the game working.
    state.challenges.set('ch-2', challenge('ch-2', 'cheat', { outcome: 'challenger' }))
    inv.afterBlockMisbehaviours(state, 5, 0, { ...watch, cheats: new Map([['cheat', {}]]) })
    assert.deepEqual(kinds(inv), ['griefing-upheld'])
  })

  it("a panel overturning an honest verifier's 'owner' breaks honest-verifier-overturned; a lazy one's is a verifier caught", () => {
    const state = freshState()
    const lazy = testKey('inv/verifier/lazy').address
    const overturned = { outcome: 'challenger' as const, verifierVerdict: 'owner' as const }
    state.challenges.set('ch-0', challenge('ch-0', 'w1', { ...overturned, verifier: lazy }))
    // Upheld 'owner', and a 'challenger' answer confirmed, are no overturn.
    state.challenges.set('ch-1', challenge('ch-1', 'h1', { verifierVerdict: 'owner', verifier: verifier.address }))
    state.challenges.set(
      'ch-2',
      challenge('ch-2', 'w2', { outcome: 'challenger', verifierVerdict: 'challenger', verifier: verifier.address }),
    )
    const inv = new Invariants({ honest })
    inv.afterBlock(state, 3, 0, new Map())
    assert.deepEqual(kinds(inv), [])
    assert.deepEqual([...inv.overturned], [['ch-0', lazy]])
    state.challenges.set('ch-3', challenge('ch-3', 'w3', { ...overturned, verifier: verifier.address }))
    inv.afterBlock(state, 4, 0, new Map())
    inv.afterBlock(state, 5, 0, new Map())
    assert.deepEqual(kinds(inv), ['honest-verifier-overturned'], 'reported once')
    assert.match(inv.violations[0]?.detail ?? '', /ch-3/)
  })

  it('an equivocator not jailed within the deadline breaks equivocation-unpunished; one jailed in time is punished', () => {
    const state = freshState()
    const watch = { ...none, equivocatedAt: new Map([[validator.address, 10]]) }
    const late = new Invariants({ honest })
    late.afterBlockMisbehaviours(state, 10 + EQUIVOCATION_DEADLINE_HEIGHTS, 0, watch)
    assert.deepEqual(kinds(late), [])
    late.afterBlockMisbehaviours(state, 11 + EQUIVOCATION_DEADLINE_HEIGHTS, 0, watch)
    assert.deepEqual(kinds(late), ['equivocation-unpunished'])
    const staker = state.stakers.get(validator.address)
    assert.ok(staker !== undefined)
    state.stakers.set(validator.address, { ...staker, jailed: true })
    const inTime = new Invariants({ honest })
    inTime.afterBlockMisbehaviours(state, 12, 0, watch)
    inTime.afterBlockMisbehaviours(state, 50, 0, watch)
    assert.deepEqual(kinds(inTime), [])
    assert.equal(inTime.punished.get(validator.address), 12)
  })

  it('a committed beacon that is not its proposer’s VRF output, or a block dated too far ahead, is reported', () => {
    const signer = signerFromSeed(sha256('inv/proposer'))
    const genesis = sha256('inv/genesis-beacon')
    const proof1 = signer.proveVrf(beaconAlpha(genesis))
    const beacon1 = nextBeacon(genesis, vrfProofToHash(proof1) as Uint8Array)
    const inv = new Invariants({ honest })
    const header = { height: 1, timeMs: 1000, proposerKey: signer.publicKey, vrfProof: proof1, beacon: beacon1 }
    inv.committedHeader(header, genesis, 1000, 500)
    assert.deepEqual(kinds(inv), [])
    // A grinder's choice: a beacon of its own beside a proof over it.
    const chosen = sha256('inv/chosen')
    const forged = {
      height: 2,
      timeMs: 2000,
      proposerKey: signer.publicKey,
      vrfProof: signer.proveVrf(beaconAlpha(chosen)),
      beacon: chosen,
    }
    inv.committedHeader(forged, genesis, 2000, 500)
    assert.deepEqual(kinds(inv), ['beacon-forged'])
    const proof3 = signer.proveVrf(beaconAlpha(chosen))
    const ahead = {
      height: 3,
      timeMs: 9000,
      proposerKey: signer.publicKey,
      vrfProof: proof3,
      beacon: nextBeacon(chosen, vrfProofToHash(proof3) as Uint8Array),
    }
    inv.committedHeader(ahead, genesis, 3000, 500)
    assert.deepEqual(kinds(inv), ['beacon-forged', 'block-time'])
    assert.equal(inv.violations[1]?.height, 3)
  })

  it('an honest verifier’s duty penalties up to 5 % of its stake are the rule working; more is honest-slashed', () => {
    // Stakes changed by hand break the token audit too: only the stake invariant is looked at.
    const slashes = (x: Invariants): string[] => kinds(x).filter((k) => k === 'honest-slashed')
    const state = freshState()
    const inv = new Invariants({ honest })
    inv.afterBlock(state, 1, 0, new Map())
    const staker = state.stakers.get(verifier.address)
    assert.ok(staker !== undefined)
    const first = staker.stake
    state.stakers.set(verifier.address, { ...staker, stake: first - first / 100n })
    inv.afterBlock(state, 2, 0, new Map())
    assert.deepEqual(slashes(inv), [])
    assert.deepEqual([...inv.dutyPenalized], [verifier.address])
    state.stakers.set(verifier.address, { ...staker, stake: first - first / 10n })
    inv.afterBlock(state, 3, 0, new Map())
    assert.deepEqual(slashes(inv), ['honest-slashed'])
    assert.equal(inv.violations.find((v) => v.invariant === 'honest-slashed')?.height, 3)
    // A miner has no duty to be late for: any loss is a slash.
    const m = state.stakers.get(miner.address)
    assert.ok(m !== undefined)
    state.stakers.set(miner.address, { ...m, stake: m.stake - 1n })
    inv.afterBlock(state, 4, 0, new Map())
    assert.deepEqual(slashes(inv), ['honest-slashed', 'honest-slashed'])
  })

  it('a withheld submission flagged for good (tied with a replica that cheated, unchallenged by its period’s end) is caught: it gained nothing', () => {
    // Seed 1 of 4 validators, 20 miners, 2 subnets, 3 windows, wrongGradient and withholdingMiner
    // at 0.1 each: a withholder's only replica cheated, L1 flagged both, the cheat was slashed and
    // the withheld claim stayed flagged, never credited nor aggregated.
    const state = freshState()
    state.claims.set('w1', claim('w1', { status: 'flagged', flag: 'mismatch', challengeUntil: 10 }))
    const inv = new Invariants({ honest })
    const cheats = new Map([
      ['w1', { claimId: 'w1', owner: miner.address, revealedHeight: 2, kind: 'withholdingMiner' as const }],
    ])
    inv.afterBlock(state, 9, 0, cheats)
    assert.equal(inv.caught.has('w1'), false, 'a challenge may still reach it')
    inv.afterBlock(state, 10, 0, cheats)
    assert.equal(inv.caught.get('w1'), 10)
    // A wrong gradient flagged for good is not caught: it must be slashed.
    const wrong = new Invariants({ honest })
    const wrongCheats = new Map([['w1', { claimId: 'w1', owner: miner.address, revealedHeight: 2 }]])
    wrong.afterBlock(state, 10, 0, wrongCheats)
    assert.equal(wrong.caught.has('w1'), false)
  })

  it('a withheld submission has until its aggregation and availability panel, not just its challenge game', () => {
    const state = freshState()
    state.claims.set('w1', claim('w1', { challengeUntil: 10 }))
    const p = state.params
    const inv = new Invariants({ honest })
    const cheats = new Map([
      ['w1', { claimId: 'w1', owner: miner.address, revealedHeight: 2, kind: 'withholdingMiner' as const }],
    ])
    const gameEnd = inv.deadlineOf(10, p)
    inv.afterBlock(state, gameEnd + 1, 0, cheats)
    assert.deepEqual(kinds(inv), [])
    inv.afterBlock(state, gameEnd + inv.aggregationSlackOf(p) + 1, 0, cheats)
    assert.deepEqual(kinds(inv), ['cheat-missed'])
  })
})
