/**
 * The challenger role machine over a fake chain: a claim that does not re-execute is
 * challenged with the bond, one that does is cleared, one whose check fails is checked again
 * at a later block, one whose content is not served a few times, blocks apart; never more than
 * two checks run at once.
 */
import { strict as assert } from 'node:assert'
import { createActor, fromPromise } from 'xstate'
import { ContentUnavailableError } from '../../../src/actors/roles/availability.ts'
import {
  CHECK_FETCH_BLOCKS,
  type ChallengerComponents,
  type ClaimCheckInput,
  challengerMachine,
  checkActorId,
  claimCheckMachine,
  claimsDue,
  inCheckOrder,
  sampled,
  UNAVAILABLE_TRIES,
  withinCapacity,
} from '../../../src/actors/roles/challenger.ts'
import type { ClaimCheckOptions, ChallengerRecheck as Recheck } from '../../../src/actors/roles/spot-check.ts'
import { newNodeMetrics } from '../../../src/actors/services/metrics.ts'
import {
  decodeStepTrace,
  STEP_TRACE_KIND,
  type StepTraceIndex,
  stepLeaf,
} from '../../../src/actors/training/step-trace.ts'
import type { Challenge, Claim } from '../../../src/chain/state.ts'
import type { Msg } from '../../../src/chain/tx.ts'
import { cidOf } from '../../../src/codec/cid.ts'
import { DeadlineError } from '../../../src/runtime/clock.ts'
import { settle, silentLogger, stateTrace } from './machine-trace.ts'

const SELF = 'r3mes1challenger'

function claim(id: string, status: Claim['status'], owner = 'r3mes1miner'): Claim {
  return {
    id,
    kind: 'submission',
    owner,
    window: 1,
    subnet: 0,
    taskId: id,
    cid: `cid-${id}`,
    height: 15,
    status,
    flag: status === 'flagged' ? 'mismatch' : null,
    challengeUntil: 30,
    metadata: '',
    previousCid: null,
    claims: [],
  }
}

/**
 * The chain's lookups of a window's `claims` by id and by task, as `ChainReader` answers them
 * (a submission's id is `task/miner`; these test claims' own ids stand for their owner's).
 */
function lookups(claims: () => readonly Claim[]) {
  return {
    claim: (id: string) => claims().find((c) => c.id === id || `${c.taskId}/${c.owner}` === id) ?? null,
    task: (id: string) => {
      const miners = claims()
        .filter((c) => c.taskId === id)
        .map((c) => c.owner)
      return miners.length === 0 ? null : { id, miners }
    },
  }
}

/** Another miner's replica of `c`'s task, with the same CID (what L1 confirms). */
const replicaOf = (c: Claim): Claim => ({ ...c, id: `${c.id}/replica`, owner: 'r3mes1replica' })

const CLAIMS = [
  claim('wrong', 'accepted'),
  claim('right', 'accepted'),
  claim('slow', 'accepted'),
  claim('mine', 'accepted', SELF),
]

interface HarnessOptions {
  /** What `chain.appealable` answers: challenges whose verifier answered 'owner'. */
  readonly appealable?: readonly Pick<Challenge, 'id' | 'claimId' | 'challenger' | 'stage' | 'deadline'>[]
  readonly misbehaviours?: readonly string[]
  /** The claim as the chain has it when a check starts (undefined: as collected). */
  readonly current?: (id: string) => Claim | null | undefined
  /** The chain's code for a challenge sent (undefined: OK). */
  readonly refuse?: (msg: Msg) => string | undefined
  readonly address?: string
  /** @default 1 */
  readonly challengeFraction?: number
  /** What `chain.claims` lists (default: CLAIMS). */
  readonly claims?: () => readonly Claim[]
  /** Tasks known, made of the listed claims (`lookups`): L1's agreement is read. @default false */
  readonly withTasks?: boolean
  /** The chain cannot tell which claims a block wrote (restored from a snapshot, say). @default false */
  readonly noWriteLog?: boolean
}

function harness(verdicts: Record<string, () => Promise<Recheck>>, options: HarnessOptions = {}) {
  const sent: Msg[] = []
  const stored = new Map<string, Uint8Array>()
  const announced: { subnet: number; cids: readonly string[] }[] = []
  const metrics = newNodeMetrics()
  const checks: string[] = []
  let running = 0
  let mostRunning = 0
  const listed = (): readonly Claim[] => options.claims?.() ?? CLAIMS
  const claimNow = (id: string): Claim | null => options.current?.(id) ?? lookups(listed).claim(id) ?? null
  // The chain's write log: the claims whose value differs from the last block's, as a block
  // that wrote them would list them (`ChainReader.claimsWrittenSince`).
  let lastBlock = new Map<string, string>()
  let written: Claim[] = []
  const writeBlock = (): void => {
    const now = new Map<string, string>()
    written = []
    for (const listedClaim of listed()) {
      const c = claimNow(listedClaim.id)
      if (c === null) continue
      const json = JSON.stringify(c)
      now.set(c.id, json)
      if (lastBlock.get(c.id) !== json) written.push(c)
    }
    lastBlock = now
  }
  let windowReads = 0
  const components = {
    chain: {
      currentWindow: () => ({ id: 1 }),
      claims: (window: number) => {
        windowReads++
        return window === 1 ? listed() : []
      },
      claimsWrittenSince: () => (options.noWriteLog === true ? undefined : written),
      claim: claimNow,
      // Unless asked, tasks unknown: no claim is taken for unconfirmed.
      task: options.withTasks === true ? lookups(() => options.claims?.() ?? CLAIMS).task : () => null,
      openAggregations: () => [],
      params: { baseReward: 10n, bondMultiple: 10, blockTimeMs: 1000 },
      appealable: (address: string) => (options.appealable ?? []).filter((c) => c.challenger === address),
    },
    tx: {
      send: async (msg: Msg) => {
        sent.push(msg)
        return { code: options.refuse?.(msg) ?? 'OK', log: '', height: 0 }
      },
    },
    content: {
      store: async (bytes: Uint8Array) => {
        const cid = cidOf(bytes).toString()
        stored.set(cid, bytes)
        return cid
      },
    },
    holdings: {
      announceHeld: async (subnet: number, cids: readonly string[]) => {
        announced.push({ subnet, cids })
      },
    },
    key: { address: options.address ?? SELF },
    metrics,
    logger: silentLogger,
    clock: { monotonicMs: () => 0 },
    misbehaviours: new Set(options.misbehaviours ?? []),
    challengeFraction: options.challengeFraction ?? 1,
  } as unknown as ChallengerComponents
  const machine = challengerMachine.provide({
    actors: {
      check: claimCheckMachine.provide({
        actors: {
          reexecute: fromPromise<Recheck, ClaimCheckInput>(async ({ input }) => {
            checks.push(input.claim.id)
            running++
            mostRunning = Math.max(mostRunning, running)
            try {
              const verdict = verdicts[input.claim.id]
              if (verdict === undefined) throw new Error(`unexpected check of ${input.claim.id}`)
              return await verdict()
            } finally {
              running--
            }
          }),
        },
      }),
    },
  })
  const trace = stateTrace()
  const actor = createActor(machine, { id: 'challenger', input: components, inspect: trace.inspect }).start()
  const block = async (height: number): Promise<void> => {
    writeBlock()
    actor.send({ type: 'block', height })
    await settle(10)
  }
  return {
    actor,
    sent,
    stored,
    announced,
    metrics,
    trace,
    block,
    checks,
    mostRunning: () => mostRunning,
    windowReads: () => windowReads,
  }
}

/** Verdicts for CLAIMS: 'wrong' does not reproduce, 'right' does, 'slow' fails its first check (a fetch deadline) and reproduces after. */
function slowFailsOnce(): Record<string, () => Promise<Recheck>> {
  let slowCalls = 0
  return {
    wrong: async () => ({ honest: false, reason: 'the gradient differs from re-execution' }),
    right: async () => ({ honest: true, reason: 'the gradient re-executes bit for bit' }),
    slow: async () => {
      slowCalls++
      if (slowCalls === 1) throw new Error('fetching cid-slow: deadline')
      return { honest: true, reason: 'the gradient re-executes bit for bit' }
    },
  }
}

describe('actors: challenger role machine', () => {
  it('names the step trace of its own re-execution in the challenge: every step stored and announced, the index by CID', async () => {
    const steps = [new Uint8Array([1, 2, 3, 4]), new Uint8Array([5, 6, 7, 8]), new Uint8Array([9])]
    const h = harness({
      wrong: async () => ({ honest: false, reason: 'the gradient differs from re-execution', steps }),
      right: async () => ({ honest: true, reason: 'the gradient re-executes bit for bit', steps }),
      slow: async () => ({ honest: true, reason: 'the gradient re-executes bit for bit' }),
    })
    await h.block(20)
    const [msg] = h.sent as Extract<Msg, { type: 'challenge' }>[]
    assert.equal(h.sent.length, 1)
    assert.equal(msg?.claimId, 'wrong')
    const index = decodeStepTrace(h.stored.get(msg?.trace as string) as Uint8Array)
    assert.equal(index.task, 'wrong')
    assert.deepEqual(index.leaves, steps.map(stepLeaf))
    assert.deepEqual(
      index.tensors.map((cid) => h.stored.get(cid)),
      steps,
      'each step is stored under the CID the index names',
    )
    // Announced on the claim's subnet, so a verifier finds this node's bytes without its stake.
    assert.deepEqual(h.announced, [{ subnet: 0, cids: [msg?.trace, ...index.tensors] }])
  })

  it('names, for a spot check’s divergence, the owner’s trace with its own leaf at that step, storing and announcing only that leaf and the index', async () => {
    const ownerBytes = [new Uint8Array([1]), new Uint8Array([2]), new Uint8Array([3])]
    const owner: StepTraceIndex = {
      v: 2,
      kind: STEP_TRACE_KIND,
      task: 'wrong',
      leaves: ownerBytes.map(stepLeaf),
      tensors: ownerBytes.map((b) => cidOf(b).toString()),
    }
    const mine = new Uint8Array([9, 9])
    const h = harness({
      wrong: async () => ({
        honest: false,
        reason: 'inner step 1 does not re-execute to the owner’s leaf',
        divergence: { step: 1, bytes: mine, owner },
      }),
      right: async () => ({ honest: true, reason: 'the drawn inner steps re-execute bit for bit' }),
      slow: async () => ({ honest: true, reason: 'the drawn inner steps re-execute bit for bit' }),
    })
    await h.block(20)
    const [msg] = h.sent as Extract<Msg, { type: 'challenge' }>[]
    assert.deepEqual([h.sent.length, msg?.claimId, msg?.bond], [1, 'wrong', 100n])
    const index = decodeStepTrace(h.stored.get(msg?.trace as string) as Uint8Array)
    const mineCid = cidOf(mine).toString()
    assert.deepEqual(index.leaves, [owner.leaves[0], stepLeaf(mine), owner.leaves[2]])
    assert.deepEqual(index.tensors, [owner.tensors[0], mineCid, owner.tensors[2]])
    assert.deepEqual(h.stored.get(mineCid), mine)
    assert.ok(!h.stored.has(owner.tensors[0] as string), 'the owner’s leaves are named, not stored again')
    assert.deepEqual(h.announced, [{ subnet: 0, cids: [msg?.trace, mineCid] }])
  })

  it('challenges a mismatch with the bond, clears a match, and retries a failed fetch at a later block', async () => {
    const h = harness(slowFailsOnce())
    await h.block(20)
    assert.deepEqual(h.trace.statesOf(checkActorId('wrong')), ['reexecuting', 'challenging', 'challenged'])
    assert.deepEqual(h.trace.statesOf(checkActorId('right')), ['reexecuting', 'cleared'])
    assert.deepEqual(h.trace.statesOf(checkActorId('slow')), ['reexecuting', 'failed'])
    assert.deepEqual(h.sent, [{ type: 'challenge', claimId: 'wrong', bond: 100n }])
    assert.equal(h.metrics.challengesMade, 1)
    assert.deepEqual([...h.actor.getSnapshot().context.challenged.keys()], ['wrong'])
    assert.ok(h.mostRunning() <= 2, `at most two checks at a time, saw ${h.mostRunning()}`)
    assert.ok(!h.checks.includes('mine'), 'its own claims are not checked')

    await h.block(21)
    assert.deepEqual(h.checks.sort(), ['right', 'slow', 'slow', 'wrong'], 'only the failed check runs again')
    assert.equal(h.sent.length, 1)
  })

  it('reads the windows’ claims once, then only those the blocks wrote and those its own checks released', async () => {
    let given = false
    const verdicts = {
      ...slowFailsOnce(),
      held: async () => ({ honest: false, reason: 'the gradient differs from re-execution' }),
    }
    // 'held' is under another node's challenge until block 23 gives it back.
    const held = claim('held', 'challenged')
    const claims = () => [...CLAIMS, given ? { ...held, status: 'accepted' as const, challengeUntil: 35 } : held]
    const h = harness(verdicts, { claims })
    await h.block(20)
    const reads = h.windowReads()
    assert.ok(reads > 0)
    await h.block(21)
    await h.block(22)
    given = true
    await h.block(23)
    await h.block(24)
    assert.equal(h.windowReads(), reads, 'the windows are read once')
    assert.deepEqual(
      h.checks.sort(),
      ['held', 'right', 'slow', 'slow', 'wrong'],
      'the failed check is collected again (released), the given-back claim as the block wrote it',
    )
    const full = harness(verdicts, { claims, noWriteLog: true })
    await full.block(20)
    await full.block(21)
    assert.ok(full.windowReads() > reads, 'without the write log every block reads the windows')
  })

  it('ends a check whose content is not served in time as unavailable, tries it again blocks apart, and then leaves it', async () => {
    const h = harness({
      wrong: async () => ({ honest: false, reason: 'the gradient differs from re-execution' }),
      right: async () => ({ honest: true, reason: 'the gradient re-executes bit for bit' }),
      slow: async () => {
        throw new ContentUnavailableError('cid-slow', ['r3mes1miner'])
      },
    })
    for (let height = 20; height <= 29; height++) await h.block(height)
    const slow = h.checks.filter((id) => id === 'slow').length
    assert.equal(slow, UNAVAILABLE_TRIES, 'tried again, a bounded number of times')
    assert.deepEqual(h.trace.statesOf(checkActorId('slow')).slice(-2), ['reexecuting', 'unavailable'])
    assert.deepEqual(h.sent, [{ type: 'challenge', claimId: 'wrong', bond: 100n }], 'not being served is no proof')
    assert.deepEqual(h.actor.getSnapshot().context.unavailable.get('slow'), {
      tries: UNAVAILABLE_TRIES,
      retryAt: Number.POSITIVE_INFINITY,
    })
  })

  it('gives the claim check a fetch deadline of CHECK_FETCH_BLOCKS blocks, and reads a ContentUnavailableError as unavailable', async () => {
    const asked: (ClaimCheckOptions | undefined)[] = []
    const components = {
      chain: { params: { blockTimeMs: 1500 } },
      claimCheck: {
        check: async (c: Claim, options?: ClaimCheckOptions) => {
          asked.push(options)
          throw new ContentUnavailableError(c.cid, [c.owner])
        },
      },
      misbehaviours: new Set(),
      logger: silentLogger,
    } as unknown as ChallengerComponents
    const actor = createActor(claimCheckMachine, { input: { components, claim: claim('slow', 'accepted') } }).start()
    await settle(5)
    assert.deepEqual(actor.getSnapshot().output, { claimId: 'slow', outcome: 'unavailable', reason: '' })
    assert.equal(asked[0]?.fetchDeadlineMs, CHECK_FETCH_BLOCKS * 1500)
    assert.ok(asked[0]?.signal instanceof AbortSignal)
  })

  it('starts an aggregate in its reserved slot while both usual slots re-execute submissions', async () => {
    let release = (): void => undefined
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const busy = async (): Promise<Recheck> => {
      await held
      return { honest: true, reason: 'the gradient re-executes bit for bit' }
    }
    const aggregate: Claim = { ...claim('agg/1/0', 'accepted', 'r3mes1aggregator'), kind: 'aggregate', taskId: null }
    const h = harness({
      wrong: busy,
      right: busy,
      slow: busy,
      'agg/1/0': async () => ({ honest: false, reason: 'the aggregate differs from its recomputation' }),
    })
    await h.block(20)
    // The node's own order of the three alike (inCheckOrder): the first two fill the usual slots.
    const [first, second, third] = inCheckOrder(CLAIMS.slice(0, 3), SELF).map((c) => c.id)
    assert.deepEqual(h.checks, [first, second], 'two submissions fill the usual slots')
    CLAIMS.push(aggregate)
    try {
      await h.block(21)
      assert.deepEqual(h.checks, [first, second, 'agg/1/0'], 'the aggregate does not wait behind them')
      assert.deepEqual(
        h.sent.map((m) => (m as { claimId?: string }).claimId),
        ['agg/1/0'],
      )
      assert.equal(h.mostRunning(), 3)
    } finally {
      CLAIMS.pop()
      release()
    }
    await h.block(22)
    assert.deepEqual(h.checks, [first, second, 'agg/1/0', third], 'a freed slot goes to the submission waiting')
  })

  const OWNER_ANSWERED = [
    { id: 'ch-3', claimId: 'wrong', challenger: SELF, stage: 'appealable' as const, deadline: 24 },
    { id: 'ch-4', claimId: 'slow', challenger: SELF, stage: 'appealable' as const, deadline: 19 },
  ]
  const allRight = {
    wrong: async () => ({ honest: true, reason: '' }),
    right: async () => ({ honest: true, reason: '' }),
    slow: async () => ({ honest: true, reason: '' }),
  }

  it("appeals a verifier's 'owner' on its own challenge once, with the least bond, while the window is open", async () => {
    const h = harness(allRight, { appealable: OWNER_ANSWERED })
    await h.block(20)
    await h.block(21)
    assert.deepEqual(
      h.sent.filter((m) => m.type === 'appeal'),
      [{ type: 'appeal', challengeId: 'ch-3', bond: 100n }],
      'ch-3 once; ch-4’s window closed at height 19',
    )
  })

  it('a griefing challenger or an accomplice never appeals', async () => {
    for (const misbehaviour of ['griefingChallenger', 'withholdAndChallenge']) {
      const h = harness(allRight, { appealable: OWNER_ANSWERED, misbehaviours: [misbehaviour] })
      await h.block(20)
      assert.deepEqual(
        h.sent.filter((m) => m.type === 'appeal'),
        [],
        misbehaviour,
      )
    }
  })

  it('does not check again a claim whose challenge period is over', async () => {
    const h = harness({ slow: () => Promise.reject(new Error('deadline')) })
    await h.block(31)
    assert.deepEqual(h.checks, [])
    assert.deepEqual(h.trace.actorsLike('check:'), [])
  })

  it('checks every aggregate of another node, whatever the sampled fraction', () => {
    const aggregate: Claim = { ...claim('agg/1/0', 'accepted', 'r3mes1aggregator'), kind: 'aggregate', taskId: null }
    const own: Claim = { ...claim('agg/1/1', 'accepted', SELF), kind: 'aggregate', taskId: null }
    const components = {
      chain: {
        currentWindow: () => ({ id: 1 }),
        claims: (w: number) => (w === 1 ? [...CLAIMS, ...CLAIMS.map(replicaOf), aggregate, own] : []),
        ...lookups(() => [...CLAIMS, ...CLAIMS.map(replicaOf)]),
        openAggregations: () => [],
      },
      key: { address: SELF },
      challengeFraction: 0,
      misbehaviours: new Set(),
    } as unknown as ChallengerComponents
    const { due, seen } = claimsDue(components, 20, new Map())
    assert.deepEqual(
      due.map((c) => c.id),
      ['agg/1/0'],
      'a fraction of 0 samples no submission a replica confirmed, and the node skips its own aggregate',
    )
    assert.ok(seen.includes('wrong') && !seen.includes('agg/1/1'))
  })

  it('checks, whatever the draw and first, an accepted submission no replica confirmed', () => {
    const lone = claim('lone', 'accepted')
    const copied = claim('copied', 'accepted')
    const confirmed = claim('confirmed', 'accepted')
    const window = [
      lone,
      copied,
      { ...replicaOf(copied), status: 'flagged' as const, flag: 'copied' as const },
      confirmed,
      replicaOf(confirmed),
    ]
    const components = {
      chain: {
        currentWindow: () => ({ id: 1 }),
        claims: (w: number) => (w === 1 ? window : []),
        ...lookups(() => window),
        openAggregations: () => [],
      },
      key: { address: SELF },
      challengeFraction: 0,
      misbehaviours: new Set(),
    } as unknown as ChallengerComponents
    const found = claimsDue(components, 20, new Map())
    assert.deepEqual(found.due.map((c) => c.id).sort(), ['copied', 'lone'], 'a copy confirms nothing')
    assert.deepEqual([...found.unconfirmed].sort(), ['copied', 'lone'])
    // Checked before the flagged ones' equals: unconfirmed go first with them.
    const order = inCheckOrder([confirmed, lone], SELF, new Map([['lone', true]])).map((c) => c.id)
    assert.deepEqual(order, ['lone', 'confirmed'])
  })

  it('checks an aggregate in its challenge period whatever its window, since aggregates land windows late', () => {
    const late: Claim = {
      ...claim('agg/0/0/1', 'accepted', 'r3mes1aggregator'),
      kind: 'aggregate',
      taskId: null,
      window: 0,
    }
    const record = { window: 0, subnet: 0, attempt: 1, claimId: late.id }
    const components = {
      chain: {
        currentWindow: () => ({ id: 5 }),
        claims: () => [],
        claim: (id: string) => (id === late.id ? late : null),
        task: () => null,
        openAggregations: () => [
          { ...record, stage: 'submitted' },
          { ...record, subnet: 1, stage: 'due', claimId: null },
        ],
      },
      key: { address: SELF },
      challengeFraction: 0,
    } as unknown as ChallengerComponents
    assert.deepEqual(
      claimsDue(components, 20, new Map()).due.map((c) => c.id),
      ['agg/0/0/1'],
    )
    assert.deepEqual(claimsDue(components, 20, new Map([[late.id, true]])).due, [], 'collected once')
  })

  /** The order in which the role checks the usual claims and `extra`, all of which re-execute. */
  async function checkOrderWith(extra: Claim, options: HarnessOptions = {}): Promise<string[]> {
    CLAIMS.push(extra)
    try {
      const order: string[] = []
      const verdict = (id: string) => async () => {
        order.push(id)
        return { honest: true, reason: '' }
      }
      const h = harness(
        Object.fromEntries(['wrong', 'right', 'slow', extra.id].map((id) => [id, verdict(id)])),
        options,
      )
      await h.block(20)
      return order
    } finally {
      CLAIMS.pop()
    }
  }

  it('checks an aggregate first', async () => {
    const aggregate: Claim = { ...claim('agg/1/0', 'accepted', 'r3mes1aggregator'), kind: 'aggregate', taskId: null }
    const order = await checkOrderWith(aggregate)
    assert.equal(order[0], 'agg/1/0')
    assert.deepEqual([...order.slice(1)].sort(), ['right', 'slow', 'wrong'])
  })

  it('orders claims alike in its own way, so challengers start on different ones', async () => {
    const flagged = ['f1', 'f2', 'f3', 'f4', 'f5', 'f6'].map((id) => claim(id, 'flagged'))
    const orders = ['r3mes1one', 'r3mes1two', 'r3mes1three'].map((address) =>
      inCheckOrder(flagged, address).map((c) => c.id),
    )
    assert.ok(new Set(orders.map((o) => o.join())).size > 1, orders.join(' | '))
    // The rank only breaks ties: a suspect still goes before the rest, an earlier deadline before a later.
    const early = { ...claim('early', 'accepted'), challengeUntil: 20 }
    for (const address of ['r3mes1one', 'r3mes1two'])
      assert.deepEqual(
        inCheckOrder([claim('late', 'accepted'), early, claim('f', 'flagged')], address, new Map([['f', true]])).map(
          (c) => c.id,
        ),
        ['f', 'early', 'late'],
      )
  })

  it('collects again a claim whose challenge was refused, and one skipped while challenged once it is open again', async () => {
    let refusals = 1
    let status: Claim['status'] = 'challenged'
    const h = harness(
      {
        wrong: async () => ({ honest: false, reason: 'the gradient differs' }),
        right: async () => ({ honest: true, reason: '' }),
        slow: async () => ({ honest: false, reason: 'the gradient differs' }),
      },
      {
        // 'slow' is under another node's challenge at first; 'wrong''s first challenge is refused.
        current: (id) => (id === 'slow' ? { ...claim('slow', 'accepted'), status } : undefined),
        refuse: () => (refusals-- > 0 ? 'ERR_NOT_CHALLENGEABLE' : undefined),
      },
    )
    await h.block(20)
    assert.deepEqual([...h.checks].sort(), ['right', 'wrong'], "'slow' is skipped while challenged")
    await h.block(21)
    assert.equal(h.checks.filter((id) => id === 'wrong').length, 2, 'the refused one is checked again')
    // The other node's challenge ended undecided: the claim is accepted again, with blocks given back.
    status = 'accepted'
    await h.block(22)
    assert.ok(h.checks.includes('slow'))
    assert.deepEqual(
      h.sent.map((m) => (m as { claimId?: string }).claimId),
      ['wrong', 'wrong', 'slow'],
    )
    assert.equal(h.metrics.challengesMade, 2, 'a refused challenge is not counted as made')
  })

  it('checks a suspect again once another node’s challenge gives it back, whatever the draw', async () => {
    // Flagged and no replica agrees: checked whatever the draw; its challenge refused (another
    // node's holds it); then back as accepted.
    let wrong = claim('wrong', 'flagged')
    const h = harness(
      { wrong: async () => ({ honest: false, reason: 'the gradient differs' }) },
      {
        challengeFraction: 0,
        withTasks: true,
        claims: () => [wrong],
        refuse: (msg) => (h.sent.length === 1 && msg.type === 'challenge' ? 'ERR_NOT_CHALLENGEABLE' : undefined),
      },
    )
    await h.block(20)
    assert.deepEqual(h.checks, ['wrong'])
    wrong = { ...wrong, status: 'challenged' }
    await h.block(21)
    assert.deepEqual(h.checks, ['wrong'], 'not collected while challenged')
    wrong = { ...claim('wrong', 'accepted'), challengeUntil: 36 }
    await h.block(30)
    assert.deepEqual(h.checks, ['wrong', 'wrong'], 'a suspect is checked again, with a fraction of 0')
    assert.equal(h.metrics.challengesMade, 1)
  })

  it('keeps a queued claim whose period a challenge ending undecided moved on, and checks it after its old end', async () => {
    let release = (): void => undefined
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const busy = async (): Promise<Recheck> => {
      await held
      return { honest: true, reason: '' }
    }
    const [first, second, third] = inCheckOrder(CLAIMS.slice(0, 3), SELF).map((c) => c.id) as [string, string, string]
    const h = harness(
      { [first]: busy, [second]: busy, [third]: async () => ({ honest: false, reason: 'the gradient differs' }) },
      // The third was challenged by another node meanwhile, which ended undecided: its period runs to 40 now.
      { current: (id) => (id === third ? { ...claim(third, 'accepted'), challengeUntil: 40 } : undefined) },
    )
    await h.block(20)
    assert.deepEqual(h.checks, [first, second])
    // Both slots still busy at block 35, past the third's first period; then they free.
    await h.block(35)
    release()
    await settle(10)
    assert.deepEqual(h.checks, [first, second, third], 'not dropped at its first period’s end (30)')
    assert.deepEqual(
      h.sent.map((m) => (m as { claimId?: string }).claimId),
      [third],
    )
  })

  it('skips, as its check would start, a claim another node challenged while it waited', async () => {
    const order = await checkOrderWith(claim('flagged', 'flagged'), {
      current: (id) => (id === 'flagged' ? { ...claim('flagged', 'flagged'), status: 'challenged' } : undefined),
    })
    assert.deepEqual([...order].sort(), ['right', 'slow', 'wrong'])
  })

  it('checks first the odd one out of a disagreement, the replicas that agree by the draw, and them once it is cleared', async () => {
    // Task T: two replicas agree on one CID, the third differs; and an accepted claim its replica confirms.
    const replica = (owner: string, cid: string, status: Claim['status'] = 'flagged'): Claim => ({
      ...claim(`T/${owner}`, status, owner),
      taskId: 'T',
      cid,
    })
    const listed = [
      replica('r3mes1a', 'cid-x'),
      replica('r3mes1b', 'cid-x'),
      replica('r3mes1c', 'cid-y'),
      { ...claim('acc', 'accepted'), taskId: 'U' },
      { ...claim('acc/replica', 'accepted', 'r3mes1replica'), taskId: 'U', cid: 'cid-acc' },
    ]
    const right = async () => ({ honest: true, reason: '' })
    const wrong = async () => ({ honest: false, reason: 'the gradient differs' })
    const h = harness(
      { 'T/r3mes1c': right, 'T/r3mes1a': wrong, 'T/r3mes1b': wrong },
      { challengeFraction: 0, withTasks: true, claims: () => listed },
    )
    await h.block(20)
    assert.deepEqual(h.checks, ['T/r3mes1c'], 'only the odd one out, with a draw of 0')
    // Found right: the two that agree on another CID are colluders, checked at the next block.
    await h.block(21)
    assert.deepEqual(h.checks.slice(1).sort(), ['T/r3mes1a', 'T/r3mes1b'])
    assert.deepEqual(h.sent.map((m) => (m as { claimId?: string }).claimId).sort(), ['T/r3mes1a', 'T/r3mes1b'])
  })

  it('draws about its fraction of claims, independently of another address’s draw', () => {
    let drawn = 0
    let both = 0
    const total = 20_000
    for (let i = 0; i < total; i++) {
      const id = `${i % 50}.${i % 7}.${i % 3}/r3mes1miner${i}`
      const a = sampled('r3mes1one', id, 0.25)
      if (a) drawn++
      if (a && sampled('r3mes1two', id, 0.25)) both++
    }
    assert.ok(Math.abs(drawn / total - 0.25) < 0.015, `drew ${drawn / total}`)
    assert.ok(Math.abs(both / total - 0.0625) < 0.01, `both drew ${both / total}`)
    assert.equal(sampled('r3mes1one', 'x', 0), false)
    assert.equal(sampled('r3mes1one', 'x', 1), true)
  })

  it('stops each check once it is done: no finished check stays among its children', async () => {
    const h = harness({
      wrong: async () => ({ honest: false, reason: 'the gradient differs' }),
      right: async () => ({ honest: true, reason: '' }),
      slow: async () => ({ honest: true, reason: '' }),
    })
    await h.block(20)
    await h.block(21)
    assert.deepEqual([...h.checks].sort(), ['right', 'slow', 'wrong'])
    assert.deepEqual(Object.keys(h.actor.getSnapshot().children), [])
  })

  it('queues no more drawn claims than it can check before their periods end; suspects and aggregates whatever', () => {
    const at = (id: string, until: number): Claim => ({ ...claim(id, 'accepted'), challengeUntil: until })
    const aggregate: Claim = { ...at('agg', 30), kind: 'aggregate', taskId: null }
    // Checks of 1 s, two at a time, a block of 1 s, at height 20: a check starting n s in ends n + 1
    // s in, and its challenge lands a block later, so a claim ending at 23 fits starts up to 1 s in.
    const queue = [aggregate, at('s', 21), at('a', 23), at('b', 23), at('c', 23), at('d', 24), at('e', 24)]
    const kept = withinCapacity(queue, new Map([['s', true]]), 20, 1000, 1000)
    assert.deepEqual(
      kept.map((c) => c.id),
      ['agg', 's', 'a', 'b', 'd', 'e'],
      'c would start 2 s in (behind four) and end too late; d and e, ending later, fit there',
    )
    assert.equal(
      withinCapacity(queue, new Map(), 20, 1000, null).length,
      queue.length,
      'all kept until a check is timed',
    )
  })

  it('an accomplice looks at every submission and challenges, unchecked, only those whose content is not served', async () => {
    const served = (cid: string) =>
      cid === 'cid-wrong' ? Promise.reject(new DeadlineError(cid, 2000)) : Promise.resolve(new Uint8Array([1]))
    const components = {
      chain: {
        currentWindow: () => ({ id: 1 }),
        claims: (w: number) => (w === 1 ? CLAIMS : []),
        task: () => null,
        openAggregations: () => [],
        tasks: () => [],
        params: { blockTimeMs: 1000, baseReward: 1n, bondMultiple: 1 },
      },
      content: { fetch: served },
      metrics: newNodeMetrics(),
      logger: silentLogger,
      key: { address: SELF },
      challengeFraction: 0,
      misbehaviours: new Set(['withholdAndChallenge']),
    } as unknown as ChallengerComponents
    const { due } = claimsDue(components, 20, new Map())
    assert.deepEqual(
      due.map((c) => c.id),
      ['wrong', 'right', 'slow'],
      'every other node’s submission, whatever the fraction',
    )
    const results = await Promise.all(
      due.map(
        (claim) =>
          new Promise<string>((resolve) => {
            const actor = createActor(
              claimCheckMachine.provide({
                actors: { challenge: fromPromise(async () => ({ code: 'OK', log: '', height: 0 })) },
              }),
              { input: { components, claim } },
            )
            actor.subscribe({ complete: () => resolve(`${claim.id}:${actor.getSnapshot().output?.outcome}`) })
            actor.start()
          }),
      ),
    )
    assert.deepEqual(results, ['wrong:challenged', 'right:cleared', 'slow:cleared'])
  })
})
