/**
 * The miners of a simulated network, run by the machine the nodes run: one `minerMachine`
 * (src/actors/roles/miner.ts, with its window and task machines) per miner, handed every block
 * as a node hands its roles one. It starts each window as on a node, and each task commits,
 * waits for its replicas' commits, reveals and watches its claim; a copier (`copiedCid`) takes
 * another miner's revealed CID (`findCopy`), as a node configured so. Only what lies outside a
 * node's machines is the simulation's:
 * - the chain: the hosted machines' view (hosted-roles.ts, `SimChainView`), showing no window
 *   from `trainWindows` on, so the miners stop and the run can settle;
 * - transactions: each miner's outbox (participants.ts, sent as `TxSender` sends them); a
 *   reveal the chain applied is reported (`revealed`), so the invariants hold the game to the
 *   planted cheats that reached the chain;
 * - the pace of blocks: their mean interval over the last few blocks, as a chain node measures it;
 * - the task work (`TaskWork`, task-work.ts), the cost model's (cost-model.ts): a window's
 *   shards are the subnets' final pointers; training waits `trainingMs` of simulated time and
 *   gives the task's honest gradient (a `wrongGradient` miner's: `wrongGradient` with its own
 *   salt); storing publishes the gradient and a trace naming it through `SimContent`, or, for
 *   a withholding miner, computes their CIDs and publishes nothing.
 * The machines sleep on the simulated clock and wait on promises it settles; each settlement
 * marks a turn due (turns.ts), so they act at the simulated instant it happened.
 */
import { type Actor, createActor } from 'xstate'
import type { MinerComponents } from '../actors/roles/miner.ts'
import { minerMachine } from '../actors/roles/miner.ts'
import type { TaskShard, TaskWork } from '../actors/roles/task-work.ts'
import type { TxResultInfo } from '../actors/tx-sender.ts'
import { TxCode } from '../chain/errors.ts'
import type { KeyPair } from '../chain/keys.ts'
import type { ChainState } from '../chain/state.ts'
import type { Msg } from '../chain/tx.ts'
import { submissionId } from '../chain/windows.ts'
import { cidOf } from '../codec/cid.ts'
import { sha256 } from '../codec/hash.ts'
import type { Clock } from '../runtime/clock.ts'
import type { Logger } from '../runtime/logger.ts'
import type { Misbehaviour } from '../topology/roles.ts'
import type { SimContent } from './content.ts'
import { type CostModel, honestGradient, taskTraceBytes, trainingMs, wrongGradient } from './cost-model.ts'
import { outboxSender, type SimChainView } from './hosted-roles.ts'
import type { Turns } from './turns.ts'

/** Blocks whose mean interval is the pace the miners read (a chain node measures recent blocks too). */
const PACE_BLOCKS = 10

export interface HostedMinersInit {
  readonly miners: readonly KeyPair[]
  /** Each misbehaving miner's planted faults (wrongGradient, withholdingMiner, copiedCid); absent: honest. */
  readonly misbehaviours: ReadonlyMap<string, ReadonlySet<Misbehaviour>>
  readonly costModel: CostModel
  /** Miners work in windows 0 … trainWindows − 1 and then stop, so the run can settle. */
  readonly trainWindows: number
  /** The block interval the miners assume before blocks have been seen (the chain's target). */
  readonly blockTimeMs: number
}

export interface HostedMinersComponents {
  /** The hosted machines' chain view (hosted-roles.ts). */
  readonly chain: SimChainView
  readonly clock: Clock
  readonly turns: Turns
  readonly content: SimContent
  /** Send `msg` from `address`'s account; `settled` gets the chain's answer (as `TxSender.send` resolves). */
  readonly send: (address: string, msg: Msg, settled: (result: TxResultInfo) => void) => void
  /** `miner`'s reveal of `claimId` was applied in block `height`. */
  readonly revealed: (miner: string, claimId: string, height: number) => void
  readonly logger: Logger
}

/** What the hosted miners did, for the report. */
export interface HostedMinerStats {
  /** Tasks the machines trained (the cost model's time each). */
  tasksTrained: number
  /** Reveals the chain acknowledged (`NodeMetrics.submissions`, all machines together). */
  submissions: number
}

export class HostedMiners {
  readonly stats: HostedMinerStats = { tasksTrained: 0, submissions: 0 }
  readonly #actors: Actor<typeof minerMachine>[] = []
  readonly #chain: SimChainView
  readonly #clock: Clock
  /** Simulated times of the last blocks handed over (at most PACE_BLOCKS). */
  readonly #blockTimes: number[] = []

  constructor(init: HostedMinersInit, c: HostedMinersComponents) {
    this.#chain = c.chain
    this.#clock = c.clock
    const view = c.chain
    const blockTimes = this.#blockTimes
    const pace = {
      get blockIntervalMs(): number {
        const n = blockTimes.length
        if (n < 2) return init.blockTimeMs
        return ((blockTimes[n - 1] as number) - (blockTimes[0] as number)) / (n - 1)
      },
    }
    // The chain as the miners read it: no window from `trainWindows` on is ever open.
    const chain: MinerComponents['chain'] = {
      get height() {
        return view.height
      },
      get params() {
        return view.params
      },
      currentWindow: () => {
        const w = view.currentWindow()
        return w !== null && w.id < init.trainWindows ? w : null
      },
      window: (id) => view.window(id),
      tasks: (window, miner) => view.tasks(window, miner),
      commits: (taskId) => view.commits(taskId),
      claims: (window) => view.claims(window),
      claim: (id) => view.claim(id),
    }
    // A reveal the chain applied is reported before the machine hears of it.
    const send: HostedMinersComponents['send'] = (address, msg, settled) =>
      c.send(address, msg, (result) => {
        if (msg.type === 'reveal' && result.code === TxCode.ok)
          c.revealed(address, submissionId(msg.taskId, address), result.height)
        settled(result)
      })
    const clock = c.turns.clock()
    for (const key of init.miners) {
      const components: MinerComponents = {
        chain,
        pace,
        tx: outboxSender({ send, turns: c.turns }, key.address),
        work: simTaskWork(key.address, { chain: view, turns: c.turns, content: c.content, init, stats: this.stats }),
        metrics: this.stats,
        key,
        clock,
        logger: c.logger,
        misbehaviours: init.misbehaviours.get(key.address) ?? new Set(),
      }
      this.#actors.push(createActor(minerMachine, { id: `miner:${key.address}`, input: components }).start())
    }
  }

  /** Block `height` was executed and `state` is the chain after it: every machine gets the block. */
  onBlock(state: ChainState, height: number): void {
    this.#chain.show(state, height)
    this.#blockTimes.push(this.#clock.monotonicMs())
    if (this.#blockTimes.length > PACE_BLOCKS) this.#blockTimes.shift()
    for (const actor of this.#actors) actor.send({ type: 'block', height })
  }

  /** Every task outcome the machines recorded, by its code ('OK': revealed; 'FAILED', 'NOTHING_TO_COPY', …). */
  outcomes(): Map<string, number> {
    const counts = new Map<string, number>()
    for (const actor of this.#actors)
      for (const o of actor.getSnapshot().context.outcomes.values()) counts.set(o.code, (counts.get(o.code) ?? 0) + 1)
    return counts
  }

  stop(): void {
    for (const actor of this.#actors) actor.stop()
  }
}

/** A gradient the cost model trains: its bytes, until they are stored. */
export interface SimTrained {
  readonly gradient: Uint8Array
}

/** The cost model's task work for `miner` (see the file's comment). */
export function simTaskWork(
  miner: string,
  s: {
    chain: SimChainView
    turns: Turns
    content: SimContent
    init: HostedMinersInit
    stats: HostedMinerStats
  },
): TaskWork<TaskShard, SimTrained> {
  const salt = minerSalt(miner)
  return {
    fetchShards: (subnets, _window, signal) =>
      s.turns.after(
        0,
        () => new Map(subnets.map((subnet) => [subnet, { pointer: s.chain.finalAdapterPointer(subnet) }])),
        signal,
      ),
    trainStage: (request, signal) =>
      s.turns.after(
        trainingMs(s.init.costModel),
        () => {
          s.stats.tasksTrained++
          const { task, windowSeed } = request
          return {
            gradient: request.wrongGradient ? wrongGradient(task, windowSeed, salt) : honestGradient(task, windowSeed),
          }
        },
        signal,
      ),
    storeResults: (request, signal) =>
      s.turns.after(
        0,
        () => {
          // A withholding miner names its content on chain and stores none of it.
          const store = (bytes: Uint8Array): string =>
            request.withhold ? cidOf(bytes).toString() : s.content.publish(bytes)
          const cid = store(request.trained.gradient)
          return { cid, traceCid: store(taskTraceBytes(request.task.id, cid)) }
        },
        signal,
      ),
  }
}

/** A miner's own perturbation, so two cheaters on one task never agree by accident. */
function minerSalt(address: string): number {
  const h = sha256(address)
  return ((h[0] as number) << 8) | (h[1] as number)
}
