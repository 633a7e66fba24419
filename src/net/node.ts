/**
 * The node factory: one libp2p node (TCP + noise + yamux, identify, ping, kad-dht under a
 * per-chain protocol, gossipsub, bootstrap, AutoNAT, the circuit relay v2 transport and, on a
 * node run as a relay, its server) inside one helia node (bitswap over an on-disk
 * blockstore), with the R3MES services built on top. Everything a node keeps between runs
 * lives in its home folder: `identity.key`, `blocks/`, `datastore/` (the DHT's records and
 * helia's pins; the peer store is kept in memory).
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { autoNAT } from '@libp2p/autonat'
import { bootstrap } from '@libp2p/bootstrap'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { kadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import type { Multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore, MountDatastore } from 'datastore-core'
import { FsDatastore } from 'datastore-fs'
import { createHeliaLight, type Helia } from 'helia'
import { Key } from 'interface-datastore'
import type { Registry } from 'prom-client'
import { sha256 } from '../codec/hash.ts'
import { sleep } from '../runtime/clock.ts'
import type { RuntimeComponents } from '../runtime/components.ts'
import { InvalidArgumentError } from '../runtime/errors.ts'
import {
  DHT_INCOMING_MESSAGE_TIMEOUT_MS,
  DHT_KBUCKET_SIZE,
  DHT_PREFIX_BITS,
  DHT_PROVIDER_RECOUNT_INTERVAL_MS,
  GOSSIP_MCACHE_GOSSIP_HEARTBEATS,
  GOSSIP_MCACHE_HEARTBEATS,
  GOSSIP_RPC_OVERHEAD_BYTES,
  GOSSIP_SEEN_TTL_MS,
  INBOUND_UPGRADE_TIMEOUT_MS,
  MAX_AUTONAT_STREAMS_PER_CONNECTION,
  MAX_BITSWAP_MESSAGE_BYTES,
  MAX_BITSWAP_STREAMS_PER_CONNECTION,
  MAX_BITSWAP_WANTLIST_ENTRIES,
  MAX_CONNECTIONS,
  MAX_CONSENSUS_MESSAGE_BYTES,
  MAX_DHT_PING_QUEUE,
  MAX_DHT_PROVIDER_RECORDS,
  MAX_DHT_PROVIDER_RECORDS_PER_PEER,
  MAX_DHT_PROVIDERS_PER_KEY,
  MAX_DHT_ROUTING_UPDATE_QUEUE,
  MAX_DHT_STREAMS_PER_CONNECTION,
  MAX_DIAL_QUEUE_LENGTH,
  MAX_GOSSIP_IDONTWANT_PER_HEARTBEAT,
  MAX_GOSSIP_OUTBOUND_BUFFER_BYTES,
  MAX_GOSSIP_RPC_CONTROL_MESSAGES,
  MAX_GOSSIP_RPC_IDONTWANT_IDS,
  MAX_GOSSIP_RPC_IHAVE_IWANT_IDS,
  MAX_GOSSIP_RPC_MESSAGES,
  MAX_GOSSIP_RPC_PRUNE_PEERS,
  MAX_GOSSIP_RPC_SUBSCRIPTIONS,
  MAX_GOSSIP_STREAMS_PER_CONNECTION,
  MAX_GOSSIP_TOPIC_BYTES_PER_PEER,
  MAX_IDENTIFY_STREAMS_PER_CONNECTION,
  MAX_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND,
  MAX_INBOUND_PENDING_CONNECTIONS,
  MAX_MUXED_EARLY_STREAMS,
  MAX_MUXED_INBOUND_STREAMS_PER_CONNECTION,
  MAX_MUXED_OUTBOUND_STREAMS_PER_CONNECTION,
  MAX_PARALLEL_DIALS,
  MAX_PEER_ADDRS_TO_DIAL,
  MAX_PING_STREAMS_PER_CONNECTION,
  MAX_RELAY_HOP_STREAMS_PER_CONNECTION,
  MAX_RELAY_RESERVATION_QUEUE,
  MAX_RELAY_RESERVATIONS,
  MAX_RELAY_STOP_STREAMS_PER_CONNECTION,
  MUXED_MAX_MESSAGE_BYTES,
  RELAY_RESERVATION_TTL_MS,
  STREAM_INACTIVITY_TIMEOUT_MS,
  STREAM_PROTOCOL_NEGOTIATION_TIMEOUT_MS,
  STREAM_READ_BUFFER_BYTES,
  STREAM_WINDOW_BYTES,
} from '../runtime/limits.ts'
import { ActivationStreams, type ActivationStreamsInit } from './activation-stream.ts'
import { dhtPeerInfoMapper } from './addresses.ts'
import { BlockExchange } from './block-exchange.ts'
import { WholeBlockFsBlockstore } from './blockstore.ts'
import { ContentStore, type ContentStoreInit } from './content-store.ts'
import {
  DHT_DATASTORE_PREFIX,
  type ProviderBounds,
  ProviderRecordBounds,
  type ProviderStore,
  refusingRecordValidators,
} from './dht-limits.ts'
import { FaultInjector } from './faults.ts'
import { FloodChannel } from './flood-channel.ts'
import { GossipRouter, type GossipsubService } from './gossip.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { bitswapTrafficMetrics, contentTraffic, libp2pMetrics, oneNodeAtATime, uncountedTraffic } from './metrics.ts'
import { isValidChainId, type TopicKind, topicSpecs } from './topics.ts'

export interface GossipTuning {
  /** Gossipsub heartbeat; tests shorten it so meshes form in well under a second. @default 1000 */
  heartbeatMs?: number
  /**
   * Sign every gossip message with the node key (gossipsub StrictSign), so `from` names the
   * author. Unsigned (StrictNoSign, message id = sha2-256 of topic and data, as Lodestar
   * does) suits payloads that carry their own signatures, and roughly halves the per-hop
   * cost; `from` is then the forwarding peer. @default true
   */
  signed?: boolean
  /** Mesh degree D (Dlo = D-2, Dhi = 2D). @default 6 */
  meshDegree?: number
  /** Tighter bounds on messages awaiting validation, per kind. @default the topic table's */
  queueLengths?: Partial<Record<TopicKind, number>>
  /**
   * Signed gossip only: recognise a duplicate by its author and sequence number (the pair its
   * message id is made of) before checking its signature, instead of after. In a mesh every
   * message arrives once from each mesh peer, and gossipsub otherwise verifies every copy;
   * only a copy whose signature checked out enters the cache of known ids, so a forged copy
   * cannot hide the real one. No effect on unsigned gossip. @default false
   */
  skipDuplicateSignatureChecks?: boolean
}

export interface NetNodeInit {
  /** Chain id: part of every topic and of the DHT protocol, so chains never mix. */
  chainId: string
  /** Folder holding the identity key, the blockstore and the datastore. */
  homeDir: string
  /**
   * Multiaddrs to listen on; `/p2p-circuit` asks a relay found among the peers for a
   * reservation and listens through it. @default ['/ip4/127.0.0.1/tcp/0']
   */
  listen?: string[]
  /**
   * The addresses others should dial, announced instead of the listen addresses (a public
   * address in front of a NAT or a port forward). @default [] (the listen addresses)
   */
  announce?: string[]
  /**
   * The network is a LAN: the DHT keeps and hands out private addresses. Off, it drops them,
   * as they mean nothing to a peer elsewhere on the internet. @default false
   */
  lan?: boolean
  /** Serve as a circuit relay v2 for peers that cannot be dialled (bounded reservations). @default false */
  relay?: boolean
  /** Multiaddrs (with /p2p/<id>) of peers to dial at start. @default [] */
  bootstrap?: string[]
  gossip?: GossipTuning
  /** Options of the content store. */
  content?: ContentStoreInit
  /** Options of the activation-stream protocol (caps, deadline). */
  activations?: Omit<ActivationStreamsInit, 'chainId'>
  /** The DHT answers queries (server) or only asks (client). @default 'server' */
  dhtMode?: 'server' | 'client'
  /** Tighter resource bounds (tests, small nodes); each defaults to its value in runtime/limits.ts. */
  limits?: Partial<NetResourceLimits>
  /** The node's Prometheus registry: libp2p's metrics and the content traffic go there (metrics.ts). @default none */
  registry?: Registry
}

/** The bounds a node can be started with below their defaults in runtime/limits.ts. */
export interface NetResourceLimits {
  /** @default MAX_CONNECTIONS */
  maxConnections: number
  /** @default MAX_DHT_PROVIDER_RECORDS */
  maxDhtProviderRecords: number
  /** @default MAX_DHT_PROVIDER_RECORDS_PER_PEER */
  maxDhtProviderRecordsPerPeer: number
  /** @default MAX_DHT_PROVIDERS_PER_KEY */
  maxDhtProvidersPerKey: number
}

const defaultLimits: NetResourceLimits = {
  maxConnections: MAX_CONNECTIONS,
  maxDhtProviderRecords: MAX_DHT_PROVIDER_RECORDS,
  maxDhtProviderRecordsPerPeer: MAX_DHT_PROVIDER_RECORDS_PER_PEER,
  maxDhtProvidersPerKey: MAX_DHT_PROVIDERS_PER_KEY,
}

/** The defaults, each lowered (never raised) by `init`. */
function resourceLimits(init: Partial<NetResourceLimits> = {}): NetResourceLimits {
  const out = { ...defaultLimits }
  for (const name of Object.keys(defaultLimits) as (keyof NetResourceLimits)[]) {
    const value = init[name]
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || value < 1)
      throw new InvalidArgumentError(`limits.${name} must be an integer >= 1`, { [name]: value })
    out[name] = Math.min(value, defaultLimits[name])
  }
  return out
}

export type NetServices = {
  identify: ReturnType<ReturnType<typeof identify>>
  ping: ReturnType<ReturnType<typeof ping>>
  dht: ReturnType<ReturnType<typeof kadDHT>>
  pubsub: GossipsubService
}

export interface NetNode {
  readonly chainId: string
  readonly peerId: PeerId
  readonly libp2p: Libp2p<NetServices>
  readonly helia: Helia
  readonly gossip: GossipRouter
  readonly content: ContentStore
  /** Direct block fetches from a named peer (the content store uses it for `providers`). */
  readonly exchange: BlockExchange
  readonly activations: ActivationStreams
  /** The channel consensus messages travel on: a stream to every connected peer, relayed by peers. */
  readonly consensus: FloodChannel
  readonly faults: FaultInjector
  multiaddrs(): Multiaddr[]
  stop(): Promise<void>
}

export function dhtProtocol(chainId: string): string {
  return `/r3mes/${chainId}/kad/1.0.0`
}

export function consensusProtocol(chainId: string): string {
  return `/r3mes/${chainId}/consensus/1.0.0`
}

/** The largest gossip payload of any topic, plus room for the RPC envelope and signature. */
const MAX_GOSSIP_RPC_BYTES = Math.max(...Object.values(topicSpecs).map((s) => s.maxBytes)) + GOSSIP_RPC_OVERHEAD_BYTES

/** Message id of unsigned gossip: sha2-256 over the topic and the data. */
function contentMessageId(message: { topic: string; data: Uint8Array }): Uint8Array {
  return sha256(message.topic, message.data)
}

/** Fast message id of signed gossip, read off the wire before the signature is checked: author and sequence number. */
function authorSequenceId(message: { from?: Uint8Array; seqno?: Uint8Array }): string {
  return `${Buffer.from(message.from ?? []).toString('base64')}/${Buffer.from(message.seqno ?? []).toString('base64')}`
}

type DhtFactory = ReturnType<typeof kadDHT>

/**
 * kad-dht with its provider store behind ProviderRecordBounds, installed as the service is
 * built so that no peer's ADD_PROVIDER reaches the store unbounded.
 */
function withProviderBounds(factory: DhtFactory, bounds: ProviderBounds, runtime: RuntimeComponents): DhtFactory {
  return (components) => {
    const dht = factory(components)
    new ProviderRecordBounds(bounds, { datastore: components.datastore, peerId: components.peerId, ...runtime }).guard(
      (dht as unknown as { providers: ProviderStore }).providers,
    )
    return dht
  }
}

/** How long a closest-peers lookup on an empty routing table waits before it returns nothing. */
const EMPTY_ROUTING_TABLE_BACKOFF_MS = 1000

/**
 * kad-dht whose closest-peers lookup, on an empty routing table, waits a moment before it
 * returns nothing. libp2p's random walk (AutoNAT looks for peers to check our addresses with
 * it, relay discovery for relays) starts the next lookup as soon as one ends: lookups that end
 * at once looped without ever yielding to the event loop, and a node alone on a public
 * address (the first of a new network) froze.
 */
function withEmptyTableBackoff(factory: DhtFactory, runtime: RuntimeComponents): DhtFactory {
  return (components) => {
    const dht = factory(components)
    const table = (dht as unknown as { routingTable: { size: number } }).routingTable
    const lookup = dht.getClosestPeers.bind(dht)
    dht.getClosestPeers = async function* (key, options) {
      if (table.size === 0) {
        await sleep(runtime.clock, EMPTY_ROUTING_TABLE_BACKOFF_MS, options?.signal)
        if (table.size === 0) return
      }
      yield* lookup(key, options)
    }
    return dht
  }
}

/** Where libp2p's peer store keeps its records in the datastore (@libp2p/peer-store's namespace). */
const PEER_STORE_PREFIX = '/peers'

/** Build, start and return a node. */
export async function createNetNode(init: NetNodeInit, components: RuntimeComponents): Promise<NetNode> {
  if (!isValidChainId(init.chainId)) throw new InvalidArgumentError('bad chain id', { chainId: init.chainId })
  const limits = resourceLimits(init.limits)
  await mkdir(init.homeDir, { recursive: true })
  const privateKey = await loadOrCreateIdentity(init.homeDir)
  const blockstore = new WholeBlockFsBlockstore(join(init.homeDir, 'blocks'))
  const disk = new FsDatastore(join(init.homeDir, 'datastore'))
  await blockstore.open()
  await disk.open()
  // libp2p's peer store reads a peer's record on every lookup and rewrites it on every
  // identify and address change: on disk each is a file read or an atomic write with fsync,
  // which took about a tenth of a testnet node's CPU. So it lives in memory, as libp2p's own
  // default keeps it. A restarted node has forgotten the peers it knew (their addresses,
  // protocols and keys): it dials its bootstrap list again, learns the rest from the DHT and
  // from identify as peers connect, and each peer proves its key on every connection anyway.
  // The DHT's records and helia's pins stay on disk.
  const datastore = new MountDatastore([
    { prefix: new Key(PEER_STORE_PREFIX), datastore: new MemoryDatastore() },
    { prefix: new Key('/'), datastore: disk },
  ])

  const faults = new FaultInjector(components)
  const traffic = init.registry === undefined ? uncountedTraffic : contentTraffic(init.registry)
  const heartbeatMs = init.gossip?.heartbeatMs ?? 1000
  const D = init.gossip?.meshDegree ?? 6
  const services = {
    identify: identify({
      maxInboundStreams: MAX_IDENTIFY_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_IDENTIFY_STREAMS_PER_CONNECTION,
    }),
    ping: ping({
      maxOutboundStreams: MAX_PING_STREAMS_PER_CONNECTION,
      maxInboundStreams: MAX_PING_STREAMS_PER_CONNECTION,
    }),
    dht: withProviderBounds(
      withEmptyTableBackoff(
        kadDHT({
          protocol: dhtProtocol(init.chainId),
          clientMode: init.dhtMode === 'client',
          peerInfoMapper: dhtPeerInfoMapper(init.lan === true),
          // A query on an empty routing table returns nothing at once rather than wait for a
          // peer (publishing a provider record on a lone node must not hang); see also
          // withEmptyTableBackoff.
          allowQueryWithZeroPeers: true,
          datastorePrefix: DHT_DATASTORE_PREFIX,
          validators: refusingRecordValidators(),
          maxInboundStreams: MAX_DHT_STREAMS_PER_CONNECTION,
          maxOutboundStreams: MAX_DHT_STREAMS_PER_CONNECTION,
          kBucketSize: DHT_KBUCKET_SIZE,
          prefixLength: DHT_PREFIX_BITS,
          routingTableUpdateMaxQueueSize: MAX_DHT_ROUTING_UPDATE_QUEUE,
          pingOldContactMaxQueueSize: MAX_DHT_PING_QUEUE,
          pingNewContactMaxQueueSize: MAX_DHT_PING_QUEUE,
          incomingMessageTimeout: DHT_INCOMING_MESSAGE_TIMEOUT_MS,
        }),
        components,
      ),
      {
        maxPerKey: limits.maxDhtProvidersPerKey,
        maxPerPeer: limits.maxDhtProviderRecordsPerPeer,
        maxTotal: limits.maxDhtProviderRecords,
        recountIntervalMs: DHT_PROVIDER_RECOUNT_INTERVAL_MS,
      },
      components,
    ),
    pubsub: gossipsub({
      asyncValidation: true,
      emitSelf: false,
      ...(init.gossip?.signed === false
        ? { globalSignaturePolicy: 'StrictNoSign' as const, msgIdFn: contentMessageId }
        : {
            globalSignaturePolicy: 'StrictSign' as const,
            ...(init.gossip?.skipDuplicateSignatureChecks === true ? { fastMsgIdFn: authorSequenceId } : {}),
          }),
      allowPublishToZeroTopicPeers: true,
      // With content message ids, publishing a payload already seen is a no-op, not an error.
      ignoreDuplicatePublishError: true,
      heartbeatInterval: heartbeatMs,
      D,
      Dlo: Math.max(1, D - 2),
      Dhi: 2 * D,
      maxInboundDataLength: MAX_GOSSIP_RPC_BYTES,
      maxInboundStreams: MAX_GOSSIP_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_GOSSIP_STREAMS_PER_CONNECTION,
      maxOutboundBufferSize: MAX_GOSSIP_OUTBOUND_BUFFER_BYTES,
      maxTopicBytesPerPeer: MAX_GOSSIP_TOPIC_BYTES_PER_PEER,
      idontwantMaxMessages: MAX_GOSSIP_IDONTWANT_PER_HEARTBEAT,
      decodeRpcLimits: {
        maxSubscriptions: MAX_GOSSIP_RPC_SUBSCRIPTIONS,
        maxMessages: MAX_GOSSIP_RPC_MESSAGES,
        maxIhaveMessageIDs: MAX_GOSSIP_RPC_IHAVE_IWANT_IDS,
        maxIwantMessageIDs: MAX_GOSSIP_RPC_IHAVE_IWANT_IDS,
        maxIdontwantMessageIDs: MAX_GOSSIP_RPC_IDONTWANT_IDS,
        maxControlMessages: MAX_GOSSIP_RPC_CONTROL_MESSAGES,
        maxPeerInfos: MAX_GOSSIP_RPC_PRUNE_PEERS,
      },
      mcacheLength: GOSSIP_MCACHE_HEARTBEATS,
      mcacheGossip: GOSSIP_MCACHE_GOSSIP_HEARTBEATS,
      seenTTL: GOSSIP_SEEN_TTL_MS,
      scoreParams: {
        // Local testnets put every peer on one IP; co-location is not a sign of a Sybil there.
        IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']),
        decayInterval: Math.max(1000, heartbeatMs),
      },
    }) as unknown as (components: unknown) => GossipsubService,
    // Learns, from peers dialling back, which of our addresses others can reach.
    autoNAT: autoNAT({
      maxInboundStreams: MAX_AUTONAT_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_AUTONAT_STREAMS_PER_CONNECTION,
    }),
    ...(init.relay === true
      ? {
          relay: circuitRelayServer({
            maxInboundHopStreams: MAX_RELAY_HOP_STREAMS_PER_CONNECTION,
            maxOutboundHopStreams: MAX_RELAY_HOP_STREAMS_PER_CONNECTION,
            maxOutboundStopStreams: MAX_RELAY_STOP_STREAMS_PER_CONNECTION,
            reservations: {
              maxReservations: MAX_RELAY_RESERVATIONS,
              reservationTtl: RELAY_RESERVATION_TTL_MS,
              // A connection with a data or time cap is "limited", and libp2p runs none of the
              // chain's protocols over one: the relay forwards whole connections, and bounds
              // how many peers it does that for.
              applyDefaultLimit: false,
            },
          }),
        }
      : {}),
  }

  const helia = withBitswap(
    withLibp2pLight(
      createHeliaLight({
        blockstore,
        datastore,
        ...(init.registry === undefined ? {} : { metrics: bitswapTrafficMetrics(traffic) }),
      }),
      {
        privateKey,
        addresses: { listen: init.listen ?? ['/ip4/127.0.0.1/tcp/0'], announce: init.announce ?? [] },
        // The relay transport dials peers through a relay and, with a `/p2p-circuit` listen
        // address, takes connections relayed to us.
        transports: [
          tcp(),
          circuitRelayTransport({
            maxInboundStopStreams: MAX_RELAY_STOP_STREAMS_PER_CONNECTION,
            maxOutboundStopStreams: MAX_RELAY_STOP_STREAMS_PER_CONNECTION,
            maxReservationQueueLength: MAX_RELAY_RESERVATION_QUEUE,
          }),
        ],
        connectionEncrypters: [noise()],
        // A paused reader keeps receiving until the sender's window is spent, so the read buffer
        // must hold a full window: yamux's defaults (16 MiB window, 4 MiB buffer) reset paused
        // streams under load, which stalled bitswap transfers of large content.
        streamMuxers: [
          yamux({
            maxInboundStreams: MAX_MUXED_INBOUND_STREAMS_PER_CONNECTION,
            maxOutboundStreams: MAX_MUXED_OUTBOUND_STREAMS_PER_CONNECTION,
            maxEarlyStreams: MAX_MUXED_EARLY_STREAMS,
            maxMessageSize: MUXED_MAX_MESSAGE_BYTES,
            streamOptions: {
              maxStreamWindowSize: STREAM_WINDOW_BYTES,
              maxReadBufferLength: STREAM_READ_BUFFER_BYTES,
              inactivityTimeout: STREAM_INACTIVITY_TIMEOUT_MS,
            },
          }),
        ],
        connectionGater: faults.gater,
        // The monitor pings each connection every 10 s and, by default, aborts it when a ping is
        // late. On a loaded machine (a testnet of many nodes on two cores) late pings are common
        // and the aborts cut healthy links in the middle of tensor transfers. Round-trip times
        // are still measured; dead peers show as closed streams and failed dials instead.
        connectionMonitor: { abortConnectionOnPingFailure: false },
        // libp2p accepts 5 inbound connections a second per remote host by default; a local
        // testnet has every peer on 127.0.0.1, so a node joining it is dialled by more than that
        // at once and the surplus dials were refused. No allow-list for loopback: libp2p's
        // allow-list also exempts from maxConnections and pruning.
        connectionManager: {
          maxConnections: limits.maxConnections,
          maxIncomingPendingConnections: MAX_INBOUND_PENDING_CONNECTIONS,
          inboundConnectionThreshold: MAX_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND,
          inboundUpgradeTimeout: INBOUND_UPGRADE_TIMEOUT_MS,
          inboundStreamProtocolNegotiationTimeout: STREAM_PROTOCOL_NEGOTIATION_TIMEOUT_MS,
          maxParallelDials: MAX_PARALLEL_DIALS,
          maxDialQueueLength: MAX_DIAL_QUEUE_LENGTH,
          maxPeerAddrsToDial: MAX_PEER_ADDRS_TO_DIAL,
        },
        peerDiscovery: init.bootstrap?.length ? [bootstrap({ list: init.bootstrap, timeout: 0 })] : [],
        services,
        ...(init.registry === undefined ? {} : { metrics: libp2pMetrics(init.registry, init.homeDir) }),
      },
    ),
    // Bitswap sends each round of want updates to every peer at once and starts the next
    // round only when the last send of the previous one has finished or timed out: one slow
    // peer held every new want of this node back for up to the 10 s default. Wants are small;
    // a peer that cannot take one in 3 s is asked again later (content-store.ts retries).
    {
      messageSendTimeout: 3_000,
      maxInboundStreams: MAX_BITSWAP_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_BITSWAP_STREAMS_PER_CONNECTION,
      maxIncomingMessageSize: MAX_BITSWAP_MESSAGE_BYTES,
      maxWantlistSize: MAX_BITSWAP_WANTLIST_ENTRIES,
    },
  )
  // libp2p is built when helia starts.
  if (init.registry === undefined) await helia.start()
  else await oneNodeAtATime(() => helia.start())
  const libp2p = helia.libp2p as unknown as Libp2p<NetServices>
  faults.attach(libp2p)

  const gossip = new GossipRouter(
    { chainId: init.chainId, queueLengths: init.gossip?.queueLengths ?? {} },
    { libp2p, ...components, faults },
  )
  // The store serves blocks to the exchange and the exchange fetches blocks for the store.
  let store: ContentStore | undefined
  const exchange = new BlockExchange(
    { chainId: init.chainId },
    { libp2p, ...components, faults, traffic, localBlock: async (cid) => store?.localBlock(cid) },
  )
  await exchange.start()
  const content = new ContentStore(init.content ?? {}, { helia, ...components, exchange, traffic })
  store = content
  const activations = new ActivationStreams(
    { ...init.activations, chainId: init.chainId },
    { libp2p, ...components, faults },
  )
  await activations.start()
  const consensus = new FloodChannel(
    { protocol: consensusProtocol(init.chainId), maxBodyBytes: MAX_CONSENSUS_MESSAGE_BYTES },
    { libp2p, ...components, faults },
  )
  await consensus.start()

  return {
    chainId: init.chainId,
    peerId: libp2p.peerId,
    libp2p,
    helia,
    gossip,
    content,
    exchange,
    activations,
    consensus,
    faults,
    multiaddrs: () => libp2p.getMultiaddrs(),
    async stop() {
      gossip.stop()
      await consensus.stop()
      await activations.stop()
      await exchange.stop()
      await helia.stop()
      await blockstore.close()
      await disk.close()
    },
  }
}
