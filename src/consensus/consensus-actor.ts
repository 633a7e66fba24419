/**
 * The consensus node as an XState v5 actor. The machine itself only holds the core's state
 * and steps it (pure `assign`); every side effect lives in named actors declared in `setup()`:
 *
 * - `recover` (promise): restart handshake and WAL replay (`recoverState`);
 * - `catchUp` (promise): decided blocks from peers through a `BlockSource`, verified and
 *   applied, before the node joins the rounds;
 * - `io` (callback): the single door to the outside. It logs each input to the WAL before
 *   handing it to the machine, carries out the core's effects (sign with the privval, WAL
 *   with fsync, broadcast, store, execute), arms timeouts on the component Clock and
 *   feeds their firing back as inputs, and gossips on a timer;
 * - `inbox` (callback): turns messages from the transport into events, and takes
 *   transactions into the mempool (batched gossip) without going through the machine.
 *
 * Tests swap any of them with `consensusMachine.provide({ actors })`.
 *
 * A node that cannot go on (recovery refused, catch-up or IO failed) does not linger serving a
 * frozen height: entering `failed` logs the error at fatal level and calls `onFatal`, whose
 * default ends the process with a non-zero exit code.
 */
import { assign, fromCallback, fromPromise, raise, sendTo, setup } from 'xstate'
import type { TimerHandle } from '../runtime/clock.ts'
import { MAX_PENDING_GOSSIP_TXS, MAX_TX_MESSAGE_BYTES, MAX_TXS_PER_MESSAGE } from '../runtime/limits.ts'
import { step } from './core.ts'
import type { ConsensusEffect, ConsensusInput, ConsensusState } from './core-types.ts'
import type { ConsensusMessage } from './messages.ts'
import { type BlockSource, catchUpFrom, type NodeComponents, NodeIo, recoverState } from './node-io.ts'

/**
 * Inbound side of a transport: the network layer calls `handler` for each message, with `from`
 * the neighbour it came from as the connection authenticates it (never a name the message gives).
 */
export interface ConsensusInbox {
  subscribe(handler: (message: ConsensusMessage, from: string) => void): () => void
  /** Cut off the neighbour `peer`: it sent what no honest peer sends (e.g. a flood of invalid txs). */
  disconnect?(peer: string, reason: string): void
}

export interface ConsensusActorInput {
  components: NodeComponents
  inbox: ConsensusInbox
  /** How often the node re-sends its status, proposal and votes. @default 200 */
  gossipIntervalMs?: number
  /** Peers' decided blocks, fetched after recovery and before joining consensus (catch-up). */
  blockSource?: BlockSource
  /**
   * Called once, with the error, when the actor enters `failed` (after the fatal log line).
   * @default exitProcess: end the process with exit code 1
   */
  onFatal?: (error: unknown) => void
}

/** The default `onFatal`: a consensus node that cannot go on must not keep serving its stale state. */
export function exitProcess(): void {
  process.exit(1)
}

type IoEvent =
  | { type: 'effects'; effects: readonly ConsensusEffect[]; state: ConsensusState }
  | { type: 'message'; message: ConsensusMessage; from: string; state: ConsensusState }
  | { type: 'submit'; input: ConsensusInput; state: ConsensusState }

export type ConsensusActorEvent =
  /** An input already in the WAL, for the core. */
  | { type: 'input'; input: ConsensusInput }
  | { type: 'message'; message: ConsensusMessage; from: string }
  /** A transaction from a client: admitted to the mempool (if valid) and gossiped. */
  | { type: 'tx'; tx: Uint8Array }
  | { type: 'io.failed'; error: unknown }
  | { type: 'stop' }
  | { type: 'started' }

interface Context {
  io: NodeIo
  blockSource: BlockSource | undefined
  inbox: ConsensusInbox
  gossipIntervalMs: number
  core: ConsensusState | null
  /** The input that starts consensus after recovery (`start` or `resume`). */
  next: ConsensusInput | null
  effects: readonly ConsensusEffect[]
  error: unknown
  onFatal: (error: unknown) => void
}

const ioActor = fromCallback<IoEvent, { io: NodeIo; gossipIntervalMs: number }>(({ input, sendBack, receive }) => {
  const { io, gossipIntervalMs } = input
  const clock = io.components.clock
  const timers = new Set<TimerHandle>()
  let latest: ConsensusState | undefined
  let dead = false

  const guarded = (fn: () => void): void => {
    if (dead) return
    try {
      fn()
    } catch (error) {
      dead = true
      for (const t of timers) t.cancel()
      sendBack({ type: 'io.failed', error })
    }
  }
  const submit = (inputToCore: ConsensusInput): void => {
    io.log(inputToCore)
    sendBack({ type: 'input', input: inputToCore })
  }
  const arm = (t: Extract<ConsensusEffect, { type: 'scheduleTimeout' }>): void => {
    const handle = clock.setTimer(t.durationMs, () => {
      timers.delete(handle)
      guarded(() => submit({ type: 'timeout', kind: t.kind, height: t.height, round: t.round }))
    })
    timers.add(handle)
  }
  const gossip = (): void => {
    guarded(() => {
      if (latest !== undefined) io.gossip(latest)
      const handle = clock.setTimer(gossipIntervalMs, () => {
        timers.delete(handle)
        gossip()
      })
      timers.add(handle)
    })
  }
  gossip()

  receive((event) => {
    guarded(() => {
      latest = event.state
      switch (event.type) {
        case 'effects':
          for (const effect of event.effects)
            for (const produced of io.execute(effect, false, arm)) sendBack({ type: 'input', input: produced })
          return
        case 'message': {
          const converted = io.receive(event.message, event.from, event.state)
          if (converted !== undefined) submit(converted)
          return
        }
        case 'submit':
          submit(event.input)
          return
      }
    })
  })
  return () => {
    dead = true
    for (const t of timers) t.cancel()
  }
})

/**
 * The transport's inbound side, and transaction intake. Transactions never touch the
 * consensus state, so they bypass the machine: submitted txs go straight to the mempool, and
 * the ones it takes are gossiped in one batch per event-loop turn. Gossiped txs are queued
 * (at most MAX_PENDING_GOSSIP_TXS; beyond it a message is dropped, as gossip may be) and
 * checked in bounded batches that yield to the event loop; a neighbour that sends too many
 * invalid ones is disconnected. They are never written to the WAL: the mempool is not
 * consensus state, and a tx reaches the WAL only inside the node's own proposal content.
 */
const inboxActor = fromCallback<{ type: 'tx'; tx: Uint8Array }, { inbox: ConsensusInbox; io: NodeIo }>(
  ({ input, sendBack, receive }) => {
    const { io, inbox } = input
    let batch: Uint8Array[] = []
    let batchBytes = 0
    let stopped = false
    const flush = (): void => {
      const txs = batch
      batch = []
      batchBytes = 0
      if (txs.length > 0) io.components.transport.broadcast({ kind: 'txs', txs })
    }
    receive((event) => {
      const added = io.addTxs([event.tx])
      if (added.length === 0) return
      for (const tx of added) {
        if (batch.length >= MAX_TXS_PER_MESSAGE || batchBytes + tx.byteLength > MAX_TX_MESSAGE_BYTES) flush()
        if (batch.length === 0) queueMicrotask(flush)
        batch.push(tx)
        batchBytes += tx.byteLength
      }
    })

    const queue: { txs: readonly Uint8Array[]; from: string }[] = []
    let queuedTxs = 0
    let draining = false
    const drain = async (): Promise<void> => {
      draining = true
      try {
        for (let next = queue.shift(); next !== undefined && !stopped; next = queue.shift()) {
          queuedTxs -= next.txs.length
          const ok = await io.addGossipedTxs(next.txs, next.from, () => stopped)
          if (!ok && !stopped) {
            io.components.logger?.warn({ peer: next.from }, 'peer sent too many invalid txs: disconnecting it')
            for (let i = queue.length - 1; i >= 0; i--)
              if (queue[i]?.from === next.from) queuedTxs -= queue.splice(i, 1)[0]?.txs.length ?? 0
            inbox.disconnect?.(next.from, 'too many invalid transactions')
          }
        }
      } finally {
        draining = false
      }
    }
    const onGossipedTxs = (txs: readonly Uint8Array[], from: string): void => {
      if (queuedTxs + txs.length > MAX_PENDING_GOSSIP_TXS) return
      queue.push({ txs, from })
      queuedTxs += txs.length
      if (!draining)
        drain().catch((error: unknown) => {
          // Mempool checks throw only TxRejectedError (handled inside); anything else is a bug.
          stopped = true
          sendBack({ type: 'io.failed', error })
        })
    }
    const leave = inbox.subscribe((message, from) => {
      if (message.kind === 'txs') onGossipedTxs(message.txs, from)
      else sendBack({ type: 'message', message, from })
    })
    return () => {
      stopped = true
      leave()
    }
  },
)

const catchUpActor = fromPromise<
  ConsensusState,
  { io: NodeIo; state: ConsensusState; source: BlockSource | undefined }
>(async ({ input, signal }) =>
  input.source === undefined
    ? input.state
    : (await catchUpFrom(input.io, input.state, input.source, () => signal.aborted)).state,
)

const recoverActor = fromPromise<{ state: ConsensusState; next: ConsensusInput }, { io: NodeIo }>(async ({ input }) =>
  recoverState(input.io),
)

export const consensusMachine = setup({
  types: {
    context: {} as Context,
    events: {} as ConsensusActorEvent,
    input: {} as ConsensusActorInput,
  },
  actors: { recover: recoverActor, catchUp: catchUpActor, io: ioActor, inbox: inboxActor },
  actions: {
    stepCore: assign(({ context, event }) => {
      if (event.type !== 'input' || context.core === null) return {}
      const { state, effects } = step(context.core, event.input)
      return { core: state, effects }
    }),
    runEffects: sendTo(
      'io',
      ({ context }): IoEvent => ({
        type: 'effects',
        effects: context.effects,
        state: context.core as ConsensusState,
      }),
    ),
    forwardMessage: sendTo('io', ({ context, event }): IoEvent => {
      const e = event as Extract<ConsensusActorEvent, { type: 'message' }>
      return { type: 'message', message: e.message, from: e.from, state: context.core as ConsensusState }
    }),
    acceptTx: sendTo('inbox', ({ event }) => ({ type: 'tx' as const, tx: (event as { tx: Uint8Array }).tx })),
  },
}).createMachine({
  id: 'consensus',
  context: ({ input }) => ({
    io: new NodeIo(input.components),
    blockSource: input.blockSource,
    inbox: input.inbox,
    gossipIntervalMs: input.gossipIntervalMs ?? 200,
    core: null,
    next: null,
    effects: [],
    error: undefined,
    onFatal: input.onFatal ?? exitProcess,
  }),
  initial: 'recovering',
  // Inbound messages and the mempool work from the start, even while the node recovers.
  invoke: { id: 'inbox', src: 'inbox', input: ({ context }) => ({ inbox: context.inbox, io: context.io }) },
  on: { tx: { actions: 'acceptTx' } },
  states: {
    recovering: {
      invoke: {
        src: 'recover',
        input: ({ context }) => ({ io: context.io }),
        onDone: {
          target: 'catchingUp',
          actions: assign({ core: ({ event }) => event.output.state, next: ({ event }) => event.output.next }),
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    catchingUp: {
      invoke: {
        src: 'catchUp',
        input: ({ context }) => ({
          io: context.io,
          state: context.core as ConsensusState,
          source: context.blockSource,
        }),
        onDone: {
          target: 'running',
          // The io actor starts on entering `running`; the raised event reaches it once it exists.
          actions: [assign({ core: ({ event }) => event.output }), raise({ type: 'started' })],
        },
        onError: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
      },
    },
    running: {
      invoke: {
        id: 'io',
        src: 'io',
        input: ({ context }) => ({ io: context.io, gossipIntervalMs: context.gossipIntervalMs }),
      },
      on: {
        started: {
          actions: sendTo(
            'io',
            ({ context }): IoEvent => ({
              type: 'submit',
              input: context.next as ConsensusInput,
              state: context.core as ConsensusState,
            }),
          ),
        },
        input: { actions: ['stepCore', 'runEffects'] },
        message: { actions: 'forwardMessage' },
        'io.failed': { target: 'failed', actions: assign({ error: ({ event }) => event.error }) },
        stop: 'stopped',
      },
    },
    failed: {
      type: 'final',
      entry: ({ context }) => {
        context.io.components.logger?.fatal({ err: context.error }, 'consensus stopped: the node cannot go on')
        context.onFatal(context.error)
      },
    },
    stopped: { type: 'final' },
  },
})
