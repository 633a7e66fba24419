/**
 * The miner's machines (task, window, role) and the node machine, with their effects swapped
 * for fakes through `.provide({ actors })`: which states a task goes through on the normal
 * path and on each first/last stage, when a neighbour vanishes, when the window closes early,
 * and what a failed shard fetch does; the node machine spawning and feeding its roles.
 */
import assert from 'node:assert/strict'
import { type AnyActorRef, assign, createActor, fromPromise, setup, waitFor } from 'xstate'
import { nodeMachine } from '../../src/actors/node-machine.ts'
import {
  type KernelTaskWorkComponents,
  networkLinks,
  type ShardPieces,
} from '../../src/actors/roles/kernel-task-work.ts'
import { minerMachine } from '../../src/actors/roles/miner.ts'
import type { MinerComponents } from '../../src/actors/roles/miner-components.ts'
import { minerTaskMachine, storeResults, trainStage } from '../../src/actors/roles/miner-task.ts'
import { minerWindowMachine } from '../../src/actors/roles/miner-window.ts'
import { partners, receiveSources, sendTargets } from '../../src/actors/roles/pipeline.ts'
import type { StoreRequest, TaskShard, TaskWork, TrainRequest } from '../../src/actors/roles/task-work.ts'
import { TensorWaitTimeoutError } from '../../src/actors/training/tensor-inbox.ts'
import type { Task, Window } from '../../src/chain/state.ts'
import type { StageWeights } from '../../src/ml/weights.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import type { Misbehaviour } from '../../src/topology/roles.ts'

const ME = 'r3mes1me'
const N_LAYERS = 3
const clock = new SimulatedClock()
const logger = createLogger({ name: 'miner-test', level: 'silent', clock })

function task(subnet: number, miners: string[] = [ME]): Task {
  return { id: `0.0.${subnet}`, window: 0, shard: 0, subnet, miners } as unknown as Task
}
const PATH = [task(0, ['up']), task(1), task(2, ['down'])]

function shardOf(subnet: number): ShardPieces {
  const stage = { first: subnet, end: subnet + 1, config: { nLayers: N_LAYERS } } as unknown as StageWeights
  return { stage, adapters: new Map(), pointer: null }
}

/** The components the machines read outside their effects; the effects themselves are fakes. */
function components(
  chain: Partial<MinerComponents['chain']> = {},
  more: Partial<MinerComponents> = {},
): MinerComponents {
  return {
    ...more,
    chain: chain as MinerComponents['chain'],
    pace: { blockIntervalMs: 1_000 },
    key: { address: ME, secretKey: new Uint8Array(32), publicKey: new Uint8Array(32) },
    clock,
    logger,
    misbehaviours: more.misbehaviours ?? new Set(),
  } as unknown as MinerComponents
}

/** Fake effects: every one answers at once unless a test swaps it; commits are counted. */
function effects(overrides: Record<string, unknown> = {}) {
  const sent = { commits: 0, reveals: 0 }
  const actors = {
    trainStage: fromPromise(async () => ({ delta: new Map(), steps: [], inputs: [], dOutputs: [] })),
    storeResults: fromPromise(async () => ({ cid: 'bafy-gradient', traceCid: 'bafy-trace' })),
    sendCommit: fromPromise(async () => {
      sent.commits++
      return 'OK'
    }),
    awaitReplicaCommits: fromPromise(async () => {}),
    sendReveal: fromPromise(async () => {
      sent.reveals++
      return 'OK'
    }),
    watchClaim: fromPromise(async () => 'accepted' as const),
    ...overrides,
  }
  return { actors, sent }
}

/** Run one task of `PATH` to its end; the states it went through, in order, and its parent's reports. */
async function runTask(
  at: number,
  overrides: Record<string, unknown> = {},
  blocks: number[] = [],
  more: Partial<MinerComponents> = {},
) {
  const { actors, sent } = effects(overrides)
  const states: string[] = []
  const reports: { type: string; outcome: { code: string } }[] = []
  // A parent that keeps what the task reports (sendParent needs one).
  const parent = setup({
    actors: { task: minerTaskMachine.provide({ actors: actors as never }) },
  }).createMachine({
    context: ({ spawn }) => ({
      ref: spawn('task', {
        id: 'task',
        input: {
          components: components({}, more),
          task: PATH[at] as Task,
          windowTasks: PATH,
          windowSeed: 'seed',
          closeHeight: 10,
          waitMs: 1_000,
          sendUntilMs: 1_000,
          shard: shardOf(at),
        },
      }) as AnyActorRef,
    }),
    on: {
      '*': { actions: ({ event }) => (event.type.startsWith('task.') ? reports.push(event as never) : undefined) },
    },
  })
  const root = createActor(parent).start()
  const ref = root.getSnapshot().context.ref
  const record = (value: unknown): void => {
    if (states.at(-1) !== value) states.push(value as string)
  }
  record(ref.getSnapshot().value)
  ref.subscribe((s: { value: unknown }) => record(s.value))
  for (const height of blocks) ref.send({ type: 'block', height })
  await waitFor(ref, (s) => s.status === 'done', { timeout: 5_000 })
  root.stop()
  return { states, sent, reports }
}

describe('actors: the miner task machine', () => {
  it('trains its stage, stores, commits, reveals and watches its claim', async () => {
    const { states, sent, reports } = await runTask(1)
    assert.deepEqual(states, [
      'training',
      'storing',
      'committing',
      'awaitingReplicaCommits',
      'revealing',
      'watchingClaim',
      'submitted',
    ])
    assert.deepEqual(sent, { commits: 1, reveals: 1 })
    assert.deepEqual(
      reports.map((r) => [r.type, r.outcome.code]),
      [
        ['task.revealed', 'OK'],
        ['task.finished', 'OK'],
      ],
    )
  })

  it('tells the training which neighbours it has: none upstream on the first stage, none downstream on the last', async () => {
    const seen: { upstream?: Task; downstream?: Task }[] = []
    const trainStage = fromPromise(async ({ input }: { input: { upstream?: Task; downstream?: Task } }) => {
      seen.push(input)
      return { delta: new Map(), steps: [], inputs: [], dOutputs: [] }
    })
    for (const at of [0, 1, 2]) assert.equal((await runTask(at, { trainStage })).states.at(-1), 'submitted')
    assert.deepEqual(
      seen.map((s) => [s.upstream?.subnet, s.downstream?.subnet]),
      [
        [undefined, 1],
        [0, 2],
        [1, undefined],
      ],
    )
  })

  it('fails, committing nothing, when a neighbour vanishes mid-task', async () => {
    const { states, sent, reports } = await runTask(1, {
      trainStage: fromPromise(async () => {
        throw new TensorWaitTimeoutError('0/0/3/1/backward', 1_000)
      }),
    })
    assert.deepEqual(states, ['training', 'failed'])
    assert.deepEqual(sent, { commits: 0, reveals: 0 })
    assert.equal(reports.at(-1)?.outcome.code, 'FAILED')
  })

  it('is abandoned, sending no commit, when the window closes before it could commit', async () => {
    const { states, sent, reports } = await runTask(
      1,
      // The neighbours' tensors never come; only the close ends the training.
      {
        trainStage: fromPromise(({ signal }) => new Promise((_, reject) => signal.addEventListener('abort', reject))),
      },
      [9, 10],
    )
    assert.deepEqual(states, ['training', 'abandoned'])
    assert.deepEqual(sent, { commits: 0, reveals: 0 })
    assert.equal(reports.at(-1)?.outcome.code, 'ABANDONED')
  })
})

describe('actors: the miner window and role machines', () => {
  it('hands its task work the planted faults it runs with: wrongGradient to the training, withholdingMiner to the storing', async () => {
    const asked: unknown[][] = []
    const work = {
      trainStage: async (r: TrainRequest) => {
        asked.push(['train', r.task.id, r.wrongGradient])
        return 'trained'
      },
      storeResults: async (r: StoreRequest) => {
        asked.push(['store', r.trained, r.first, r.last, r.withhold])
        return { cid: 'bafy-gradient', traceCid: 'bafy-trace' }
      },
    } as unknown as TaskWork
    // The machine's own effects, through the work; the transactions are fakes.
    const throughWork = { trainStage, storeResults }
    for (const planted of [[], ['wrongGradient'], ['withholdingMiner']] as const) {
      const misbehaviours = new Set<Misbehaviour>(planted)
      const { states } = await runTask(0, throughWork, [], { work, misbehaviours })
      assert.equal(states.at(-1), 'submitted')
    }
    assert.deepEqual(asked, [
      ['train', '0.0.0', false],
      ['store', 'trained', true, false, false],
      ['train', '0.0.0', true],
      ['store', 'trained', true, false, false],
      ['train', '0.0.0', false],
      ['store', 'trained', true, false, true],
    ])
  })

  it('a failed shard fetch fails the window; the next window fetches again', async () => {
    const windows: Window[] = [0, 1].map(
      (id) =>
        ({ id, openHeight: id * 10, closeHeight: id * 10 + 10, seed: 's', aggregator: null, closed: false }) as Window,
    )
    let open = 0
    let fetches = 0
    const chain = {
      height: 0,
      currentWindow: () => windows[open] as Window,
      window: (id: number) => windows[id] ?? null,
      tasks: () => [task(1)],
    }
    const failingFetch = fromPromise<
      ReadonlyMap<number, TaskShard>,
      { components: MinerComponents; subnets: number[]; window: number }
    >(async () => {
      fetches++
      throw new Error('no holder answered')
    })
    const machine = minerMachine.provide({
      actors: { window: minerWindowMachine.provide({ actors: { fetchShard: failingFetch } }) },
    })
    const miner = createActor(machine, { input: components(chain as never) }).start()
    assert.equal(miner.getSnapshot().value, 'waitingForWindow')
    miner.send({ type: 'block', height: 1 })
    await waitFor(miner, (s) => s.value === 'waitingForWindow' && fetches === 1, { timeout: 5_000 })
    miner.send({ type: 'block', height: 2 })
    assert.equal(fetches, 1, 'a window is started once')
    open = 1
    miner.send({ type: 'block', height: 11 })
    await waitFor(miner, (s) => s.value === 'waitingForWindow' && fetches === 2, { timeout: 5_000 })
    miner.stop()
  })
})

describe('actors: the node machine', () => {
  it('spawns a machine per hosted role under its name and hands each every block', async () => {
    const counter = setup({
      types: { context: {} as { blocks: number[] }, events: {} as { type: 'block'; height: number } },
    }).createMachine({
      context: { blocks: [] },
      initial: 'idle',
      states: {
        idle: {
          on: { block: { actions: assign({ blocks: ({ context, event }) => [...context.blocks, event.height] }) } },
        },
      },
    })
    const node = createActor(nodeMachine, {
      input: {
        roles: [
          { name: 'miner', logic: counter, input: undefined },
          { name: 'serving', logic: counter, input: undefined },
        ],
      },
    }).start()
    node.send({ type: 'block', height: 1 })
    node.send({ type: 'block', height: 2 })
    for (const name of ['miner', 'serving']) {
      const ref = node.system.get(name) as AnyActorRef | undefined
      assert.ok(ref !== undefined, `${name} is in the system under its name`)
      assert.deepEqual(ref.getSnapshot().context.blocks, [1, 2])
      assert.equal(ref.getSnapshot().value, 'idle')
    }
    node.send({ type: 'stop' })
    assert.equal(node.getSnapshot().status, 'done')
    assert.equal((node.system.get('miner') as AnyActorRef | undefined)?.getSnapshot().status ?? 'stopped', 'stopped')
  })
})

describe('actors: pipeline neighbours', () => {
  const mine = { id: 'm', subnet: 0, shard: 0, miners: ['a0', 'a1'] } as unknown as Task
  const down = { id: 'd', subnet: 1, shard: 0, miners: ['b0', 'b1'] } as unknown as Task

  it('with nothing known, replica i works with replica i of the neighbour', () => {
    assert.deepEqual(sendTargets(down, mine, 0), ['b0'])
    assert.deepEqual(sendTargets(down, mine, 1), ['b1'])
    assert.deepEqual(partners(down, mine, 1), ['b1'])
  })

  it('the first ready replica also serves the neighbours whose usual senders are not ready', () => {
    // As a0 hears it with a1 dead: nothing from its own subnet (gossip does not echo a0's own
    // presence), both replicas of the next stage ready.
    assert.deepEqual(sendTargets(down, mine, 0, { mine: new Set(), neighbour: new Set(['b0', 'b1']) }).sort(), [
      'b0',
      'b1',
    ])
    // As a1 hears it with a0 alive: a0 is the stand-in, a1 keeps to its own partner.
    assert.deepEqual(sendTargets(down, mine, 1, { mine: new Set(['a0']), neighbour: new Set(['b0', 'b1']) }), ['b1'])
    // As a1 hears it with a0 dead: a1 is the stand-in.
    assert.deepEqual(sendTargets(down, mine, 1, { mine: new Set(), neighbour: new Set(['b0']) }).sort(), ['b0', 'b1'])
    // No extra copy to a neighbour that never said it is ready; nothing heard at all: partners only.
    assert.deepEqual(sendTargets(down, mine, 0, { mine: new Set(), neighbour: new Set(['b0']) }), ['b0'])
    assert.deepEqual(sendTargets(down, mine, 0, { mine: new Set(), neighbour: new Set() }), ['b0'])
  })

  it("a stage's links read both subnets' presence: a dead replica's neighbour is fed by the stand-in, a dead neighbour holds nothing up", async () => {
    const sent: { to: string; untilMs: number }[] = []
    const untilMs = clock.monotonicMs() + 600_000
    const linksOf = (ready: Record<number, string[]>, hangTo: string) =>
      networkLinks(
        {
          clock,
          presence: { readyMiners: (subnet: number) => new Set(ready[subnet] ?? []) },
          // A send to `hangTo` never gets through: it would try until its deadline.
          tensors: {
            send: (to: string, _tensor: unknown, until: number) => {
              sent.push({ to, untilMs: until })
              return to === hangTo ? new Promise<void>(() => {}) : Promise.resolve()
            },
          },
        } as unknown as KernelTaskWorkComponents,
        {
          task: { ...mine, window: 0 },
          replica: 0,
          upstream: undefined,
          downstream: { ...down, window: 0 },
          untilMs,
        } as unknown as TrainRequest,
        new AbortController().signal,
      )
    // a1 is dead (never said it is ready); b0 and b1 are ready: b1 gets a0's activations too.
    await linksOf({ 0: [], 1: ['b0', 'b1'] }, 'none').send(0, 0, 'forward', new Float32Array(4))
    assert.deepEqual(sent.map((s) => s.to).sort(), ['b0', 'b1'])
    assert.ok(sent.every((s) => s.untilMs === untilMs))
    // b0 is dead: the send to it gets a few seconds beside the stage, which does not wait for it.
    sent.length = 0
    await linksOf({ 0: ['a1'], 1: ['b1'] }, 'b0').send(0, 0, 'forward', new Float32Array(4))
    assert.deepEqual(
      sent.map((s) => s.to),
      ['b0'],
    )
    assert.ok((sent[0]?.untilMs as number) <= clock.monotonicMs() + 3_000)
  })

  it('a stage takes its input from any replica of the neighbouring task, ready ones first', () => {
    assert.deepEqual(receiveSources(down, new Set(['b1'])), ['b1', 'b0'])
    assert.deepEqual(receiveSources(down), ['b0', 'b1'])
    assert.deepEqual(receiveSources(undefined), [])
  })
})
