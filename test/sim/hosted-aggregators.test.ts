/**
 * The simulator's aggregators are the nodes' aggregator machine (src/sim/hosted-aggregators.ts)
 * over a real chain state: the validator the chain drew aggregates its due (window, subnet)
 * once, a withheld gradient is declared unavailable in the aggregate's bitmap after the
 * aggregation's fetch deadline, and a validator configured with `wrongAggregate` names the
 * wrong state its misbehaviour computes; a validator not drawn sends nothing. In a whole run with
 * every misbehaviour, the withheld claims are declared and slashed, the wrong aggregates slashed.
 */
import assert from 'node:assert/strict'
import { aggregationFetchDeadlineMs } from '../../src/actors/roles/aggregate-work.ts'
import type { TxResultInfo } from '../../src/actors/tx-sender.ts'
import { ChainApp } from '../../src/chain/app.ts'
import { claimListDigest } from '../../src/chain/claim-list.ts'
import { localTestnetGenesis } from '../../src/chain/genesis.ts'
import { testKey } from '../../src/chain/keys.ts'
import type { Aggregation, ChainState, Claim } from '../../src/chain/state.ts'
import type { Msg } from '../../src/chain/tx.ts'
import { unavailableBitmap } from '../../src/chain/unavailable-bitmap.ts'
import { cidOf } from '../../src/codec/cid.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { SimContent } from '../../src/sim/content.ts'
import { aggregationMs } from '../../src/sim/cost-model.ts'
import type { FaultFile } from '../../src/sim/faults.ts'
import { HostedAggregators } from '../../src/sim/hosted-aggregators.ts'
import { SimChainView } from '../../src/sim/hosted-roles.ts'
import { adapterCidOf, wrongAdapterBytesOf } from '../../src/sim/misbehaviours.ts'
import { runSimulation } from '../../src/sim/simulation.ts'
import { Turns } from '../../src/sim/turns.ts'

const honest = testKey('hosted-agg/validator/0')
const wrong = testKey('hosted-agg/validator/1')
const idle = testKey('hosted-agg/validator/2')
const miners = [0, 1, 2].map((i) => testKey(`hosted-agg/miner/${i}`))
const withholder = miners[1]?.address as string
const COST = { stepMs: 500, innerSteps: 4 }
const BLOCK = 10

function freshState(): ChainState {
  return new ChainApp(
    localTestnetGenesis({
      chainId: 'hosted-agg',
      validators: [honest, wrong, idle],
      miners: [miners],
      verifiers: [],
      arbiters: [],
    }),
  ).state
}

function submission(content: SimContent, i: number, subnet: number): Claim {
  const owner = miners[i]?.address as string
  return {
    id: `w0/s${subnet}/${i}`,
    kind: 'submission',
    owner,
    window: 0,
    subnet,
    taskId: `task-${subnet}-${i}`,
    cid: content.publish(new TextEncoder().encode(`gradient ${subnet} ${i}`)),
    height: 1,
    status: 'accepted',
    flag: null,
    challengeUntil: BLOCK,
    metadata: '{}',
    previousCid: null,
    claims: [],
  }
}

function due(subnet: number, aggregator: string): Aggregation {
  return {
    window: 0,
    subnet,
    stage: 'due',
    attempt: 0,
    aggregator,
    tried: [],
    dueHeight: BLOCK,
    deadline: BLOCK + 20,
    claimId: null,
    finishedHeight: null,
  }
}

describe('sim: the hosted aggregator machines', () => {
  it('aggregate as the nodes do: the withheld gradient declared unavailable after the fetch deadline, a wrongAggregate validator’s state wrong', async () => {
    const clock = new SimulatedClock()
    const turns = new Turns(clock)
    const content = new SimContent({ turns, withholders: new Set([withholder]) })
    const state = freshState()
    // Subnet 0: three accepted submissions, the second withheld; subnet 1: one, drawn to the wrong aggregator.
    const subnet0 = [0, 1, 2].map((i) => submission(content, i, 0))
    const subnet1 = [submission(content, 0, 1)]
    for (const c of [...subnet0, ...subnet1]) state.claims.set(c.id, c)
    state.aggregations.set('0/0', due(0, honest.address))
    state.aggregations.set('0/1', due(1, wrong.address))
    const sent: { from: string; msg: Msg; atMs: number }[] = []
    const aggregators = new HostedAggregators(
      { validators: [honest, wrong, idle], wrongAggregators: new Set([wrong.address]), costModel: COST },
      {
        chain: new SimChainView(),
        turns,
        content,
        send: (from: string, msg: Msg, settled: (r: TxResultInfo) => void) => {
          sent.push({ from, msg, atMs: clock.monotonicMs() })
          settled({ code: 'OK', log: '', height: BLOCK + 1 })
        },
        logger: createLogger({ name: 'test', level: 'silent', clock }),
      },
    )
    aggregators.onBlock(state, BLOCK)
    // The simulation's loop: run the clock to each settlement, then hand the machines a turn.
    for (;;) {
      clock.runUntil(60_000, () => turns.due)
      if (!turns.due) break
      await turns.take()
    }
    aggregators.stop()

    assert.deepEqual(
      sent.map((s) => s.from),
      [wrong.address, honest.address],
      'one aggregate per drawn validator; the one whose gradients all came first',
    )
    const [ofWrong, ofHonest] = sent
    const included = [subnet0[0]?.id, subnet0[2]?.id] as string[]
    assert.deepEqual(ofHonest?.msg, {
      type: 'aggregate',
      window: 0,
      subnet: 0,
      claimsDigest: claimListDigest(included),
      unavailable: unavailableBitmap(
        subnet0.map((c) => c.id),
        [subnet0[1]?.id as string],
      ),
      adapterCid: adapterCidOf(0, 0, included),
    })
    // It waited for the withheld gradient until the aggregation's fetch deadline, then computed.
    assert.equal(ofHonest?.atMs, aggregationFetchDeadlineMs(state.params) + aggregationMs(COST))
    assert.equal(aggregators.stats.declaredUnavailable, 1)
    const wrongCid = cidOf(wrongAdapterBytesOf(wrong.address, 0, 1)).toString()
    assert.equal(ofWrong?.msg.type === 'aggregate' && ofWrong.msg.adapterCid, wrongCid)
    assert.notEqual(wrongCid, adapterCidOf(0, 1, [subnet1[0]?.id as string]))
    // The machines published what they named: a re-execution can fetch it.
    assert.ok((await fetchAt(clock, turns, content, wrongCid)).length > 0)
  })

  it('in a whole run, their aggregates declare the withheld claims (each slashed) and the wrong ones are slashed; it replays', async function () {
    this.timeout(120_000)
    // Withholders and wrong aggregators alone: with accomplices (all-faults.json) every withheld
    // claim is challenged and slashed before it is accepted, and never reaches an aggregate.
    const faults: FaultFile = {
      network: { loss: 0.02, duplicate: 0.02, jitterMs: 40 },
      misbehaviours: { wrongAggregate: 0.3, withholdingMiner: 0.1 },
    }
    // Seed 2 draws a wrong aggregator for some (window, subnet): the draw follows the beacons.
    const opts = { validators: 7, miners: 40, subnets: 2, windows: 5, seed: 2, cheaterShare: 0, faults } as const
    const r = await runSimulation(opts)
    assert.deepEqual(r.violations, [], JSON.stringify(r.violations))
    assert.equal(r.game.caught, r.game.cheats)
    assert.equal(r.game.honestSlashed, 0)
    const m = r.misbehaviours
    assert.ok(m !== undefined && m.withheld > 0 && m.withheldCaught === m.withheld, JSON.stringify(m))
    assert.ok(r.game.declaredUnavailable > 0, 'the machines declared the withheld gradients unavailable')
    assert.ok(m.wrongAggregates > 0 && m.wrongAggregatesSlashed === m.wrongAggregates, JSON.stringify(m))
    assert.equal((await runSimulation(opts)).digest, r.digest)
  })
})

/** `cid`'s bytes from the simulated content, running the clock to the fetch. */
async function fetchAt(clock: SimulatedClock, turns: Turns, content: SimContent, cid: string): Promise<Uint8Array> {
  const bytes = content.fetch(cid)
  clock.runUntil(clock.monotonicMs() + 1_000)
  await turns.take()
  return bytes
}
