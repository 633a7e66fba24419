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
import { step } from './core.ts'
import type { ConsensusEffect, ConsensusInput, ConsensusState } from './core-types.ts'
import type { ConsensusMessage } from './messages.ts'
import { type BlockSource, catchUpFrom, type NodeComponents, NodeIo, recoverState } from './node-io.ts'

/** Inbound side of a transport: the network layer calls `handler` for each message from a peer. */
export interface ConsensusInbox {
  subscribe(handler: (message: ConsensusMessage, from: string) => void): () => void
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
  const clock = io.c.clock
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
 * consensus state, so they bypass the machine: submitted and gossiped txs go straight to the
 * mempool, and the ones it takes are gossiped in one batch per event-loop turn.
 */
const inboxActor = fromCallback<{ type: 'tx'; tx: Uint8Array }, { inbox: ConsensusInbox; io: NodeIo }>(
  ({ input, sendBack, receive }) => {
    const { io, inbox } = input
    let batch: Uint8Array[] = []
    const flush = (): void => {
      const txs = batch
      batch = []
      if (txs.length > 0) io.c.transport.broadcast({ kind: 'txs', txs })
    }
    receive((event) => {
      const added = io.addTxs([event.tx])
      if (added.length === 0) return
      if (batch.length === 0) queueMicrotask(flush)
      batch.push(...added)
      if (batch.length >= MAX_TX_BATCH) flush()
    })
    return inbox.subscribe((message, from) => {
      if (message.kind === 'txs') io.addTxs(message.txs)
      else sendBack({ type: 'message', message, from })
    })
  },
)

/** Most txs gossiped in one message. */
export const MAX_TX_BATCH = 1000

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
        context.io.c.logger?.fatal({ err: context.error }, 'consensus stopped: the node cannot go on')
        context.onFatal(context.error)
      },
    },
    stopped: { type: 'final' },
  },
})
