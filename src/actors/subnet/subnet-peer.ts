/**
 * The subnet peer: a seeder of one subnet. It trains nothing; it joins the subnet's topics,
 * fetches and pins the subnet's backbone range (manifest and bundles) and its current
 * adapter state, says so on the topics, and then keeps the subnet's recent content alive: at
 * every block it follows the subnet's model pointer and fetches and pins what the subnet
 * announced for the recent windows (within a byte budget), announcing what it got. A miner
 * that joins later finds its shard here (holder hints of the directory), not at the
 * validators.
 *
 *   joining → fetchingShard → announcing → seeding (idle ⇄ syncing → reannouncing)
 *      ↑            │ error
 *      └─ retrying ←┘  (at the next block)
 *
 * Every effect is a named actor (`join`, `fetchShard`, `announce`, `seed`); the node provides
 * the real ones (`subnetPeerActors`), tests their own with `.provide()`.
 */
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { assign, fromPromise, setup } from 'xstate'
import type { ChainReader } from '../../chain/reader.ts'
import type { ContentStore } from '../../net/content-store.ts'
import { InvalidArgumentError, isR3mesError } from '../../runtime/errors.ts'
import { MAX_SUBNET_PEER_SEED_BYTES } from '../../runtime/limits.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { ContentFetcher } from '../services/content-fetcher.ts'
import type { ModelPieces } from '../services/model-pieces.ts'
import type { SubnetDirectory } from './subnet-directory.ts'

/** Windows of announced content a subnet peer keeps: the current one and the one before. */
export const SUBNET_PEER_SEED_WINDOWS = 2

/** A CID this peer fetched and pinned beyond its range, with its window and size. */
export interface SeededContent {
  readonly cid: string
  readonly window: number
  readonly sizeBytes: number
}

/** What `fetchShard` pinned: the range manifest, its bundles and the adapter state. */
export interface ShardHeld {
  readonly range: string
  readonly bundles: readonly string[]
  /** The adapter-state CID at the subnet's pointer (null: the initial state, computed). */
  readonly adapter: string | null
  readonly window: number
}

export interface SeedResult {
  readonly window: number
  readonly adapter: string | null
  /** Content fetched and pinned in this round. */
  readonly added: readonly SeededContent[]
  /** Content unpinned in this round (windows too old). */
  readonly dropped: readonly string[]
}

export interface AnnounceInput {
  readonly subnet: number
  readonly window: number
  readonly range: string
  readonly adapter: string | null
  /** CIDs to announce as held (all of them after a new window, else only the new ones). */
  readonly cids: readonly string[]
  /** Also announce presence (on joining and when a window opens). */
  readonly presence: boolean
}

export interface SeedInput {
  readonly subnet: number
  readonly height: number
  readonly adapter: string | null
  readonly seeded: readonly SeededContent[]
  readonly budgetBytes: number
}

export interface SubnetPeerInput {
  readonly subnet: number
  /** @default MAX_SUBNET_PEER_SEED_BYTES */
  readonly seedBudgetBytes?: number
}

export interface SubnetPeerContext {
  readonly subnet: number
  readonly height: number
  readonly seedBudgetBytes: number
  readonly shard: ShardHeld | null
  readonly adapter: string | null
  /** The window of the last presence this peer announced. */
  readonly announcedWindow: number
  readonly seeded: readonly SeededContent[]
  /** CIDs fetched in the last seeding round, to announce. */
  readonly fresh: readonly string[]
  readonly failures: number
  readonly lastError: string | null
}

export type SubnetPeerEvent = { type: 'block'; height: number } | { type: 'stop' }

const notProvided = (what: string) => () => {
  throw new InvalidArgumentError(`the subnet peer's ${what} effect was not provided`)
}

const isAbort = (error: unknown): boolean =>
  error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

export const subnetPeerMachine = setup({
  types: {
    input: {} as SubnetPeerInput,
    context: {} as SubnetPeerContext,
    events: {} as SubnetPeerEvent,
  },
  actors: {
    join: fromPromise<void, { subnet: number }>(notProvided('join')),
    fetchShard: fromPromise<ShardHeld, { subnet: number }>(notProvided('fetchShard')),
    announce: fromPromise<void, AnnounceInput>(notProvided('announce')),
    seed: fromPromise<SeedResult, SeedInput>(notProvided('seed')),
  },
  guards: {
    newWindow: ({ context }) => context.shard !== null && context.announcedWindow !== context.shard.window,
    hasFresh: ({ context }) => context.fresh.length > 0,
  },
}).createMachine({
  id: 'subnet-peer',
  context: ({ input }) => ({
    subnet: input.subnet,
    height: 0,
    seedBudgetBytes: input.seedBudgetBytes ?? MAX_SUBNET_PEER_SEED_BYTES,
    shard: null,
    adapter: null,
    announcedWindow: -1,
    seeded: [],
    fresh: [],
    failures: 0,
    lastError: null,
  }),
  initial: 'joining',
  on: {
    block: { actions: assign({ height: ({ event }) => event.height }) },
    stop: { target: '.stopped' },
  },
  states: {
    joining: {
      invoke: {
        src: 'join',
        input: ({ context }) => ({ subnet: context.subnet }),
        onDone: { target: 'fetchingShard' },
        onError: {
          target: 'retrying',
          actions: assign({
            failures: ({ context }) => context.failures + 1,
            lastError: ({ event }) => messageOf(event.error),
          }),
        },
      },
    },
    fetchingShard: {
      invoke: {
        src: 'fetchShard',
        input: ({ context }) => ({ subnet: context.subnet }),
        onDone: {
          target: 'announcing',
          actions: assign({
            shard: ({ event }) => event.output,
            adapter: ({ event }) => event.output.adapter,
            lastError: null,
          }),
        },
        onError: {
          target: 'retrying',
          actions: assign({
            failures: ({ context }) => context.failures + 1,
            lastError: ({ event }) => messageOf(event.error),
          }),
        },
      },
    },
    // A failed join or fetch is tried again at the next block (a block is seconds apart).
    retrying: {
      on: {
        block: { target: 'joining', actions: assign({ height: ({ event }) => event.height }) },
      },
    },
    announcing: {
      invoke: {
        src: 'announce',
        input: ({ context }) => announceInput(context, true),
        // An announcement that did not go out is made again when the next window opens.
        onDone: { target: 'seeding', actions: assign({ announcedWindow: ({ context }) => shardOf(context).window }) },
        onError: { target: 'seeding', actions: assign({ lastError: ({ event }) => messageOf(event.error) }) },
      },
    },
    seeding: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            block: { target: 'syncing', actions: assign({ height: ({ event }) => event.height }) },
          },
        },
        syncing: {
          invoke: {
            src: 'seed',
            input: ({ context }) => ({
              subnet: context.subnet,
              height: context.height,
              adapter: context.adapter,
              seeded: context.seeded,
              budgetBytes: context.seedBudgetBytes - context.seeded.reduce((n, s) => n + s.sizeBytes, 0),
            }),
            onDone: {
              target: 'reannouncing',
              actions: assign(({ context, event }) => {
                const dropped = new Set(event.output.dropped)
                return {
                  shard: { ...shardOf(context), window: event.output.window },
                  adapter: event.output.adapter,
                  seeded: [...context.seeded.filter((s) => !dropped.has(s.cid)), ...event.output.added],
                  fresh: [
                    ...(event.output.adapter !== null && event.output.adapter !== context.adapter
                      ? [event.output.adapter]
                      : []),
                    ...event.output.added.map((s) => s.cid),
                  ],
                  lastError: null,
                }
              }),
            },
            onError: {
              target: 'idle',
              actions: assign({
                failures: ({ context }) => context.failures + 1,
                lastError: ({ event }) => messageOf(event.error),
              }),
            },
          },
        },
        reannouncing: {
          always: [
            { guard: 'newWindow', target: 'announcingWindow' },
            { guard: 'hasFresh', target: 'announcingFresh' },
            { target: 'idle' },
          ],
        },
        // A new window: presence again, and every CID held (a node that joined since hears them).
        announcingWindow: {
          invoke: {
            src: 'announce',
            input: ({ context }) => announceInput(context, true),
            onDone: {
              target: 'idle',
              actions: assign({ announcedWindow: ({ context }) => shardOf(context).window, fresh: [] }),
            },
            onError: { target: 'idle', actions: assign({ lastError: ({ event }) => messageOf(event.error) }) },
          },
        },
        announcingFresh: {
          invoke: {
            src: 'announce',
            input: ({ context }) => ({ ...announceInput(context, false), cids: context.fresh }),
            onDone: { target: 'idle', actions: assign({ fresh: [] }) },
            onError: { target: 'idle', actions: assign({ lastError: ({ event }) => messageOf(event.error) }) },
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
})

function shardOf(context: SubnetPeerContext): ShardHeld {
  if (context.shard === null) throw new InvalidArgumentError('the subnet peer holds no shard yet')
  return context.shard
}

function announceInput(context: SubnetPeerContext, presence: boolean): AnnounceInput {
  const shard = shardOf(context)
  const adapter = context.adapter
  return {
    subnet: context.subnet,
    window: shard.window,
    range: shard.range,
    adapter,
    cids: [shard.range, ...shard.bundles, ...(adapter === null ? [] : [adapter]), ...context.seeded.map((s) => s.cid)],
    presence,
  }
}

// ---- the real effects -----------------------------------------------------------------------

export interface SubnetPeerComponents {
  readonly directory: Pick<SubnetDirectory, 'start' | 'announce' | 'announcePresence' | 'recentContent'>
  readonly model: Pick<ModelPieces, 'rangeCid' | 'stageWeights' | 'aggregatorOf'>
  readonly content: ContentFetcher
  readonly pins: Pick<ContentStore, 'pin' | 'unpin'>
  readonly chain: Pick<ChainReader, 'currentWindow' | 'adapterPointer'>
  /** Peers to ask for the range besides its announced holders (the genesis model's seeders). */
  readonly modelSeeders: () => PeerId[]
  readonly logger: Logger
}

/** The bundle CIDs a backbone range manifest lists (model-store.ts writes it). */
export function rangeBundleCids(rangeCid: string, manifest: Uint8Array): string[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder().decode(manifest))
  } catch (error) {
    throw new InvalidArgumentError(`backbone range ${rangeCid} is not JSON`, { cause: error })
  }
  const r = parsed as { kind?: unknown; layers?: unknown; embedding?: unknown; head?: unknown }
  if (r?.kind !== 'r3mes-backbone-range' || !Array.isArray(r.layers))
    throw new InvalidArgumentError(`${rangeCid} is not a backbone range manifest`)
  const cids = [...r.layers, r.embedding, r.head].filter((c): c is string => typeof c === 'string')
  for (const cid of cids) CID.parse(cid)
  return cids
}

/** The subnet peer's effects on a real node. */
export function subnetPeerActors(c: SubnetPeerComponents) {
  const log = c.logger.child({ component: 'subnet-peer' })
  const windowNow = (): number => c.chain.currentWindow()?.id ?? 0
  const fetchAdapter = async (subnet: number, signal: AbortSignal): Promise<string | null> => {
    const pointer = c.chain.adapterPointer(subnet)
    if (pointer === null) return null
    const aggregator = c.model.aggregatorOf(pointer)
    await c.content.fetch(pointer, { signal, from: aggregator === undefined ? [] : [aggregator] })
    await c.pins.pin(CID.parse(pointer), { signal })
    return pointer
  }
  return {
    join: fromPromise<void, { subnet: number }>(async () => {
      c.directory.start()
    }),
    fetchShard: fromPromise<ShardHeld, { subnet: number }>(async ({ input, signal }) => {
      const range = c.model.rangeCid(input.subnet)
      // Fetches the manifest and every bundle (checked against their CIDs) into the store.
      await c.model.stageWeights(input.subnet, signal)
      const manifest = await c.content.fetch(range, { signal, providers: c.modelSeeders() })
      const bundles = rangeBundleCids(range, manifest)
      for (const cid of [range, ...bundles]) await c.pins.pin(CID.parse(cid), { signal })
      const adapter = await fetchAdapter(input.subnet, signal)
      log.info({ subnet: input.subnet, range, bundles: bundles.length, adapter }, 'holding the subnet shard')
      return { range, bundles, adapter, window: windowNow() }
    }),
    announce: fromPromise<void, AnnounceInput>(async ({ input }) => {
      if (input.presence)
        await c.directory.announcePresence(input.subnet, {
          window: input.window,
          roles: ['subnet-peer'],
          range: input.range,
          adapter: input.adapter,
        })
      await c.directory.announce(input.subnet, input.cids, input.window)
    }),
    seed: fromPromise<SeedResult, SeedInput>(async ({ input, signal }) => {
      const window = windowNow()
      const adapter =
        input.adapter === c.chain.adapterPointer(input.subnet)
          ? input.adapter
          : await fetchAdapter(input.subnet, signal)
      const oldest = window - SUBNET_PEER_SEED_WINDOWS + 1
      const dropped: string[] = []
      for (const s of input.seeded) {
        if (s.window >= oldest) continue
        await c.pins.unpin(CID.parse(s.cid))
        dropped.push(s.cid)
      }
      const held = new Set(input.seeded.map((s) => s.cid))
      const added: SeededContent[] = []
      let budget =
        input.budgetBytes + input.seeded.filter((s) => s.window < oldest).reduce((n, s) => n + s.sizeBytes, 0)
      for (const { cid, window: of } of c.directory.recentContent(input.subnet, oldest)) {
        if (held.has(cid) || cid === adapter || budget <= 0) continue
        try {
          const bytes = await c.content.fetch(cid, { signal })
          if (bytes.byteLength > budget) continue
          await c.pins.pin(CID.parse(cid), { signal })
          budget -= bytes.byteLength
          added.push({ cid, window: of, sizeBytes: bytes.byteLength })
        } catch (error) {
          // One CID nobody serves any more (its fetch deadline passed, or a holder sent bad
          // bytes) must not stop the round; it is tried next block. Anything else is a bug.
          if (signal.aborted || !(isR3mesError(error) || isAbort(error))) throw error
          log.debug({ cid, err: error }, 'announced content not fetched')
        }
      }
      return { window, adapter, added, dropped }
    }),
  }
}

/** The subnet peer machine with the node's effects. */
export function subnetPeerRole(components: SubnetPeerComponents) {
  return subnetPeerMachine.provide({ actors: subnetPeerActors(components) })
}
