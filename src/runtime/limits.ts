/**
 * Every bound on what a peer, a client or a file on disk can make a node hold, loop over or
 * allocate, in one place (as go-libp2p's resource manager keeps its limits): per peer and in
 * total, with units last in the names. docs/SECURITY.md lists each with what it protects.
 *
 * A module that enforces a limit imports it from here, so the value a reader sees is the one
 * the node runs with. Pure data: importable from every layer (the consensus core and the
 * chain included).
 */

// ---- signatures -----------------------------------------------------------------------

/**
 * Parsed ed25519 public keys kept for reuse (parsing costs as much as verifying). Peers choose
 * which keys a node verifies, so the cache is cleared when full rather than grown.
 */
export const ED25519_PUBLIC_KEY_CACHE_ENTRIES = 4096

/**
 * ed25519 verification results (valid or not) by public key, signature and message digest: a
 * node verifies a transaction at mempool admission, at each recheck and at execution. Anyone
 * can fill it with junk, so the oldest entry goes when full (a miss just verifies again).
 */
export const ED25519_VERIFY_CACHE_ENTRIES = 65_536

/** ECVRF verification results (the output or a failure) by public key, alpha and proof; oldest dropped when full. */
export const VRF_VERIFY_CACHE_ENTRIES = 16_384

/** Strings already parsed as CIDs (or refused), oldest dropped when full. */
export const CID_PARSE_CACHE_ENTRIES = 65_536

// ---- consensus core -------------------------------------------------------------------

/**
 * The highest round a node takes a message for. Round timeouts grow with the round, so honest
 * validators reach this only after days without a decision; a bound keeps a peer's far-future
 * round from costing work proportional to its number.
 */
export const MAX_CONSENSUS_ROUND = 4096

/**
 * Messages for the next height a node keeps until it gets there (a peer that decided first
 * sends a round's worth). Only correctly signed ones for rounds within the look-ahead take a slot.
 */
export const MAX_NEXT_HEIGHT_INPUTS = 1024

/**
 * How far past its own round a node takes a vote or proposal (the look-ahead of the round-skip
 * rule). Each round taken may hold a vote set, so this bounds the vote sets one height can
 * gather; a node further behind than this catches up through decided blocks instead.
 */
export const MAX_ROUNDS_AHEAD = 1000

/**
 * How far a block's time may run past its parent's. Deterministic (every node checks it the
 * same way, catch-up included): a block time can never be pushed near 2^53 ms, where the next
 * proposer's `previous + 1` stops being a safe integer. A proposer whose clock is further
 * ahead (or who resumes after a longer outage) uses the parent's time plus this step; the
 * chain's time then catches up a step per block.
 */
export const MAX_BLOCK_TIME_STEP_MS = 24 * 60 * 60 * 1000

/**
 * How far ahead of its own clock (when the proposal arrived) a validator lets a fresh
 * proposal's block time be and still prevote for it (proposer-based timestamps' precision and
 * message delay in one). Wider than the clock skew the chaos scenarios apply (±3 s) plus a
 * message's delay, so honest skew never costs a round; a Byzantine proposer cannot move
 * decided block times further ahead of honest clocks than this.
 */
export const MAX_BLOCK_TIME_DRIFT_MS = 10_000

/** Evidence items a node holds waiting for a block, from all validators together. */
export const MAX_PENDING_EVIDENCE = 1024

/**
 * Evidence items held against any one validator. The chain slashes an equivocator once per
 * height, so a few items prove all there is to prove; the bound keeps a validator that signs
 * equivocations by the thousand from filling the pool that evidence against others needs.
 */
export const MAX_PENDING_EVIDENCE_PER_VALIDATOR = 4

// ---- consensus IO: WAL, mempool, the consensus channel ----------------------------------

/** One consensus message (a block of 4 MiB with its commit, and headroom); larger is refused before it is decoded. */
export const MAX_CONSENSUS_MESSAGE_BYTES = 8 * 1024 * 1024

/** Bytes queued to one peer on the consensus channel; a peer too slow to take them loses frames (consensus re-sends). */
export const MAX_FLOOD_QUEUED_BYTES_PER_PEER = 64 * 1024 * 1024

/** Frames remembered as seen (relay de-duplication), oldest forgotten first. */
export const FLOOD_SEEN_CACHE_SIZE = 16_384

/** Transactions the mempool holds, their bytes in total, and one transaction's bytes. */
export const MAX_MEMPOOL_TXS = 10_000
export const MAX_MEMPOOL_BYTES = 64 * 1024 * 1024
export const MAX_MEMPOOL_TX_BYTES = 64 * 1024

/**
 * Transactions one account may have waiting for the coming block (nonces n … n+31 while the
 * chain says n). Admission is a dry run on the committed state, which cannot see what the
 * earlier ones spend, so without this one account with one fee's balance could fill a mempool.
 */
export const MAX_PENDING_TXS_PER_SENDER = 32

/**
 * Transactions a node's TxSender keeps in flight at once, signed with consecutive nonces (at
 * most MAX_PENDING_TXS_PER_SENDER, or validators refuse the last ones; half of it leaves room
 * for a validator a block behind). A verifier seated in many challenges at once answers them
 * all within an L2 deadline of three blocks even when one block carries nothing of its own:
 * with 8, the simulator found honest verifiers penalized for answers still queued.
 */
export const TX_MAX_IN_FLIGHT = 16

/** Hashes of committed txs remembered, so a replayed one costs a lookup. */
export const MEMPOOL_COMMITTED_CACHE_SIZE = 100_000

/** A WAL record larger than this is damage, not data (a block is bounded far below). */
export const MAX_WAL_RECORD_BYTES = 64 * 1024 * 1024

/**
 * WAL bytes one height's segment may hold before peers' inputs are no longer logged (and so
 * not processed): a peer cannot fill the disk. The node's own inputs are always logged. An
 * honest height needs a small fraction of this: one proposal (a block of at most 1 MiB of
 * txs) and two votes per validator per round, duplicates refused before logging.
 */
export const MAX_WAL_SEGMENT_PEER_BYTES = 256 * 1024 * 1024

/**
 * Peers remembered as helped to catch up (a decided block sent in answer to their `status`):
 * one entry per peer, oldest dropped first, so the map cannot grow with peer ids.
 */
export const MAX_HELPED_PEERS = 1024

/** Least time between two answers to one peer's `status` (a continuing catch-up excepted: consensus/node-io.ts). */
export const MIN_HELP_INTERVAL_PER_PEER_MS = 100

/** Decided blocks in one answer to a `status`: a catch-up takes a run per round trip, not one block. */
export const MAX_DECIDED_BLOCKS_PER_STATUS = 32

/** Bytes of decided blocks (`blockSizeBytes`) sent to one peer in answer to its statuses, per second. */
export const MAX_HELP_BYTES_PER_PEER_PER_S = 16 * 1024 * 1024

/** Transactions one consensus `txs` message may carry (a bigger one is refused whole). */
export const MAX_TXS_PER_MESSAGE = 1000

/** Bytes of transactions one consensus `txs` message may carry. */
export const MAX_TX_MESSAGE_BYTES = 4 * 1024 * 1024

/** Gossiped transactions waiting to be checked; a `txs` message beyond it is dropped (gossip is best-effort). */
export const MAX_PENDING_GOSSIP_TXS = 20_000

/** Gossiped transactions checked (signature, application) in one event-loop turn before yielding. */
export const TX_CHECK_BATCH = 64

/** Hashes of refused transactions remembered, so a re-sent refused tx costs a lookup, not a check. */
export const REFUSED_TX_CACHE_SIZE = 100_000

/**
 * Gossiped txs a peer may have refused (invalid, not merely duplicate or late) within one
 * `TX_REFUSAL_WINDOW_MS` before its streams on the consensus channel are closed.
 */
export const MAX_REFUSED_TXS_PER_PEER = 200

/**
 * Gossiped txs refused for now (a nonce ahead of the sender's next, the sender's pending txs at
 * their cap) that count as one refused tx against `MAX_REFUSED_TXS_PER_PEER`: honest relays
 * pass on a sender's txs out of order at times; a peer flooding them is cut off ten times later.
 */
export const NOT_YET_TXS_PER_REFUSAL = 10

/** The window over which a peer's refused gossiped txs are counted. */
export const TX_REFUSAL_WINDOW_MS = 10_000

/**
 * Bytes of unfinished frames (their first bytes in, the rest not yet) all streams of the
 * flood channel together may hold; a stream whose bytes would pass it is closed. One stream
 * holds at most one unfinished frame, bounded by the channel's largest frame.
 */
export const MAX_PARTIAL_FRAME_BYTES_TOTAL = 128 * 1024 * 1024

/** A stream holding part of a frame and sending nothing more for this long is closed. */
export const PARTIAL_FRAME_IDLE_MS = 10_000

// ---- chain application --------------------------------------------------------------------

/**
 * Bytes of an aggregate's `unavailable` bitmap the decoder takes: one bit for each submission
 * the fullest (window, subnet) can hold, 4,096 shards × 16 replicas at the greatest parameter
 * bounds (chain/params.ts). The chain then checks its exact length against its own list.
 */
export const MAX_UNAVAILABLE_BITMAP_BYTES = 8192

// ---- network: streams, inboxes, block exchange, HTTP --------------------------------------

/**
 * Largest tensor an activation stream takes, checked on its header before anything is
 * allocated; a node that knows the model's boundary shape (a miner) takes exactly that size.
 */
export const MAX_TENSOR_BYTES = 256 * 1024 * 1024
/** Concurrent inbound activation streams per connection. */
export const MAX_INBOUND_TENSOR_STREAMS = 4
/**
 * Receive memory for an inbound tensor is taken as its bytes arrive, never on its header: a
 * tensor up to this size goes straight into its own buffer, taken with its first data byte
 * (the honest fast path, no copy beyond the one off the stream); a tensor received into a
 * buffer released by a consumer (the pool's, the same size) does too. What a stream can make a
 * node hold beyond the bytes its sender actually sent is at most this.
 */
export const TENSOR_EAGER_RECEIVE_BYTES = 4 * 1024 * 1024
/**
 * A larger tensor is received into pieces of this size, each taken when the first byte that
 * belongs in it arrives, and copied once into one buffer when its last byte is in: memory
 * grows with the bytes received (plus at most one piece), at the cost of one extra copy.
 */
export const TENSOR_RECEIVE_PIECE_BYTES = 1024 * 1024
/**
 * Receive memory all unfinished inbound tensors may hold together, node-wide over every peer
 * and stream. A stream whose first buffer would pass it is refused on its header, before its
 * payload; one whose next piece would pass it is cut. Peers that send bytes and stall (or
 * trickle) cannot make the node hold more than this between them.
 */
export const MAX_INBOUND_TENSOR_BYTES_IN_FLIGHT = 512 * 1024 * 1024
/**
 * An inbound tensor stream that delivers no byte for this long before its last one is closed
 * (ERR_STREAM_IDLE): a sender that stops mid-tensor frees its memory and its stream slot long
 * before the exchange's deadline. An honest sender writes without pause; backpressure pauses
 * it only while this node is not reading, which does not count.
 */
export const TENSOR_STREAM_IDLE_MS = 10_000

/**
 * Tensors a miner holds for stages that have not asked for them yet, from all senders together:
 * a pipeline in flight has up to M micro-batch tensors of one inner step per task and neighbour
 * (a neighbour cannot run a step ahead: its next step waits for this stage's gradients).
 */
export const MAX_INBOX_TENSORS = 256
/** Bytes of such tensors held, from all senders together. */
export const MAX_INBOX_BYTES = 512 * 1024 * 1024
/**
 * Tensors held from one sender: a pipeline neighbour has up to M micro-batch tensors of one
 * inner step in flight per task it shares with this node, in the window now open and the next;
 * a neighbour cannot crowd out the others. Bytes stay bounded as before (a micro-batch tensor
 * is 1/M of a step's boundary tensor). A miner holds at most `tasksPerMiner` + 1 tasks a
 * window, so the chain keeps 2 × M × (tasksPerMiner + 1) within this (chain/params.ts): an
 * honest neighbour's tensors always fit.
 */
export const MAX_INBOX_TENSORS_PER_SENDER = 64
/** Bytes held from one sender. */
export const MAX_INBOX_BYTES_PER_SENDER = 128 * 1024 * 1024

// Block exchange (src/net/block-exchange.ts, src/net/content-store.ts).

/** A content root's header (size, chunk size, content kind), read from a peer's root block. */
export const MAX_CONTENT_ROOT_HEADER_BYTES = 512

// libp2p connections (createNetNode's connection manager). Loopback testnets put every peer on
// 127.0.0.1, so the per-host bounds are set for ~16 local nodes dialling one another at once,
// not for one peer per address.

/**
 * Connections a node holds at once; an inbound connection beyond it is refused before its
 * upgrade, and libp2p prunes the least valued ones when our own dials go over. Each connection
 * costs a socket, a noise session, a yamux muxer and the streams below: this bounds them all.
 */
export const MAX_CONNECTIONS = 128
/**
 * Inbound connections still in their upgrade (noise handshake, muxer negotiation) at once. A
 * peer that opens sockets and never finishes the handshake holds one slot each until
 * INBOUND_UPGRADE_TIMEOUT_MS; beyond this bound new sockets are closed at once.
 */
export const MAX_INBOUND_PENDING_CONNECTIONS = 64
/**
 * Inbound connections a second from one IP address (libp2p's `inboundConnectionThreshold`).
 * One host cannot use up the pending slots by itself; set above what a local testnet of ~16
 * nodes on one address does when a node joins and every other dials it at once.
 */
export const MAX_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND = 64
/** How long an inbound connection may take to finish its upgrade before it is closed. */
export const INBOUND_UPGRADE_TIMEOUT_MS = 10_000
/** How long a peer may take to agree on a stream's protocol (each stream holds a slot meanwhile). */
export const STREAM_PROTOCOL_NEGOTIATION_TIMEOUT_MS = 10_000
/** Dials in progress at once, across all peers (our own work: sockets and handshakes). */
export const MAX_PARALLEL_DIALS = 64
/** Dials waiting for a slot; peer discovery (DHT, bootstrap) cannot queue more than this. */
export const MAX_DIAL_QUEUE_LENGTH = 256
/** Addresses tried per peer when dialling it: a peer record listing thousands is cut here. */
export const MAX_PEER_ADDRS_TO_DIAL = 16

// yamux, per connection

/**
 * Streams a peer may have open to us on one connection, all protocols together (yamux resets
 * the surplus before protocol negotiation). The per-protocol bounds below add up to well under
 * it; this bounds the streams still negotiating, which count against no protocol yet.
 */
export const MAX_MUXED_INBOUND_STREAMS_PER_CONNECTION = 256
/** Streams we open on one connection, all protocols together. */
export const MAX_MUXED_OUTBOUND_STREAMS_PER_CONNECTION = 256
/** Streams a peer may open before the node has attached its stream listener (yamux resets the connection beyond). */
export const MAX_MUXED_EARLY_STREAMS = 10
/** Largest yamux data frame we send, so one stream does not hold the connection for long. */
export const MUXED_MAX_MESSAGE_BYTES = 64 * 1024
/**
 * Yamux per-stream flow-control window: the most a peer may send on a stream before we grant
 * more, so the most one stream makes us hold unread.
 */
export const STREAM_WINDOW_BYTES = 8 * 1024 * 1024
/**
 * What a paused stream may hold unread before yamux resets it. A paused reader keeps receiving
 * until the sender's window is spent, so it must hold a full window: yamux's defaults (16 MiB
 * window, 4 MiB buffer) reset paused streams under load.
 */
export const STREAM_READ_BUFFER_BYTES = 2 * STREAM_WINDOW_BYTES
/** A stream with no byte either way for this long is reset, so a silent peer frees its slot. */
export const STREAM_INACTIVITY_TIMEOUT_MS = 120_000

// Streams per protocol and per connection (libp2p resets an inbound stream over its protocol's
// bound after negotiation). Handlers registered in createNetNode take theirs there; the others
// pass theirs to `libp2p.handle(protocol, handler, { maxInboundStreams, maxOutboundStreams })`.

/** Identify: one exchange per connection, and a push when our addresses change. */
export const MAX_IDENTIFY_STREAMS_PER_CONNECTION = 2
/**
 * Ping: the connection monitor pings every 10 s; a ping still closing when the next starts
 * needs a second stream, and one stream only failed (and killed) healthy connections.
 */
export const MAX_PING_STREAMS_PER_CONNECTION = 4
/** Kad-DHT: one stream per request; a peer's queries in flight to us at once. */
export const MAX_DHT_STREAMS_PER_CONNECTION = 16
/** AutoNAT: a peer asks us to dial it back once per address it checks; a couple at once suffice. */
export const MAX_AUTONAT_STREAMS_PER_CONNECTION = 2
/**
 * Circuit relay v2, on a node run with `--relay`: peers (behind NAT) that may hold a
 * reservation on it at once. Each relayed connection is forwarded in full (no data or time cap:
 * a capped connection runs none of the chain's protocols), so this is what a relay operator
 * commits to carry.
 */
export const MAX_RELAY_RESERVATIONS = 32
/** How long a reservation lasts before its holder must renew it (libp2p's default is 2 h). */
export const RELAY_RESERVATION_TTL_MS = 3_600_000
/** Relay HOP streams (reserve, connect) a peer may hold open to a relay on one connection. */
export const MAX_RELAY_HOP_STREAMS_PER_CONNECTION = 4
/** Relay STOP streams (one per relayed connection) open at once on one connection to a relay. */
export const MAX_RELAY_STOP_STREAMS_PER_CONNECTION = 8
/** Relays found (by identify, by the DHT) waiting for this node to try a reservation on. */
export const MAX_RELAY_RESERVATION_QUEUE = 16
/** Gossipsub: one long-lived stream each way per peer; a second covers a stream being replaced. */
export const MAX_GOSSIP_STREAMS_PER_CONNECTION = 2
/** Bitswap: one stream per message; its default (1024) let one peer hold a thousand. */
export const MAX_BITSWAP_STREAMS_PER_CONNECTION = 32
// The block exchange's and the activation streams' bounds are MAX_BLOCK_STREAMS_PER_CONNECTION
// and MAX_INBOUND_TENSOR_STREAMS, beside their other limits.
/** The consensus channel: one long-lived stream each way per peer. */
export const MAX_CONSENSUS_STREAMS_PER_CONNECTION = 4

// Bitswap messages

/** Largest bitswap message we take from a peer (a block of 2 MiB with its envelope fits). */
export const MAX_BITSWAP_MESSAGE_BYTES = 4 * 1024 * 1024
/** Entries a peer's wantlist may hold with us; each costs a lookup in our blockstore. */
export const MAX_BITSWAP_WANTLIST_ENTRIES = 1024

// Gossipsub

/** Encoded cap of a `tx` gossip message (a signed transaction), checked before decoding. */
export const MAX_TX_GOSSIP_BYTES = 64 * 1024
/** `tx` messages awaiting validation at once; beyond it they are IGNOREd (no blame). */
export const MAX_TX_GOSSIP_PENDING = 4096
/** Encoded cap of a subnet `presence` message (one node, one window, two CIDs). */
export const MAX_PRESENCE_GOSSIP_BYTES = 1024
/** `presence` messages awaiting validation at once, per subnet. */
export const MAX_PRESENCE_GOSSIP_PENDING = 1024
/** Encoded cap of a subnet `holdings` message (a batch of CIDs). */
export const MAX_HOLDINGS_GOSSIP_BYTES = 8 * 1024
/** `holdings` messages awaiting validation at once, per subnet. */
export const MAX_HOLDINGS_GOSSIP_PENDING = 1024
/** CIDs one `holdings` message may name; a longer list (the byte cap allows a few more) is IGNOREd. */
export const MAX_HOLDINGS_CIDS_PER_MESSAGE = 64
/** Windows a subnet message may be away from the chain's current one before it is IGNOREd. */
export const SUBNET_GOSSIP_WINDOW_SLACK = 2
/** Holder hints (a CID and a peer that announced it) the subnet directory keeps in all (LRU). */
export const MAX_HOLDER_HINTS = 16_384
/** Holder hints one peer may have in the directory; its oldest go first beyond it. */
export const MAX_HOLDER_HINTS_PER_PEER = 1024
/** Peers the directory remembers as holders of one CID; the least recently announced go first. */
export const MAX_HOLDERS_PER_CID = 16
/** Presence records of unstaked peers (subnet peers) the directory keeps per subnet (LRU). */
export const MAX_UNSTAKED_PRESENCE_PER_SUBNET = 256
/** Recently announced CIDs the directory keeps per subnet, for seeders to fetch (oldest go first). */
export const MAX_RECENT_SUBNET_CIDS = 1024
/** Bytes a subnet peer fetches and pins of a subnet's recent content, beyond its layer range. */
export const MAX_SUBNET_PEER_SEED_BYTES = 256 * 1024 * 1024
/**
 * Room in one gossipsub RPC beyond the largest topic payload: the envelope, topic string,
 * author, sequence number and signature. An RPC over payload + this is not decoded at all.
 */
export const GOSSIP_RPC_OVERHEAD_BYTES = 4096
/**
 * Bytes queued to one peer's gossipsub stream that it has not read; beyond it the stream is
 * reset. A peer that stops reading costs at most this, not every message since.
 */
export const MAX_GOSSIP_OUTBOUND_BUFFER_BYTES = 32 * 1024 * 1024
/** Topic subscriptions one RPC may carry (ours: `tx` and two per subnet). */
export const MAX_GOSSIP_RPC_SUBSCRIPTIONS = 1024
/** Messages one RPC may carry (the RPC byte cap bounds them too). */
export const MAX_GOSSIP_RPC_MESSAGES = 5000
/**
 * Message ids one IHAVE or IWANT may carry: gossipsub's own emission cap (5000), so an honest
 * peer's control message always decodes; beyond it the whole RPC is dropped.
 */
export const MAX_GOSSIP_RPC_IHAVE_IWANT_IDS = 5000
/** IDONTWANT ids one RPC may carry (gossipsub sends at most 512 a heartbeat). */
export const MAX_GOSSIP_RPC_IDONTWANT_IDS = 512
/** Control messages (IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT) of one kind per RPC. */
export const MAX_GOSSIP_RPC_CONTROL_MESSAGES = 5000
/** Peer records one PRUNE may carry for peer exchange. */
export const MAX_GOSSIP_RPC_PRUNE_PEERS = 16
/**
 * Memory one peer's topic subscriptions may take in our topic map (each topic costs its
 * length plus ~1 KiB): about 250 topics, far above a node in every subnet of a large network.
 */
export const MAX_GOSSIP_TOPIC_BYTES_PER_PEER = 256 * 1024
/** IDONTWANT ids kept per peer and heartbeat. */
export const MAX_GOSSIP_IDONTWANT_PER_HEARTBEAT = 512
/** Heartbeats a message stays in the message cache (answering IWANTs); bounds the cache. */
export const GOSSIP_MCACHE_HEARTBEATS = 5
/** Heartbeats of the message cache advertised in IHAVEs. */
export const GOSSIP_MCACHE_GOSSIP_HEARTBEATS = 3
/** How long a message id is remembered to drop duplicates; bounds the seen-cache by rate × this. */
export const GOSSIP_SEEN_TTL_MS = 120_000

// Kad-DHT (the chain's DHT, `/r3mes/<chainId>/kad/1.0.0`)

/** Peers per k-bucket. */
export const DHT_KBUCKET_SIZE = 20
/** Routing table depth in bits: it holds at most 2^this × DHT_KBUCKET_SIZE peers (1280). */
export const DHT_PREFIX_BITS = 6
/** Routing table updates (peers learnt from query answers) waiting to be applied. */
export const MAX_DHT_ROUTING_UPDATE_QUEUE = 1024
/** Peers waiting to be pinged before they enter, or to decide whether they stay in, the routing table. */
export const MAX_DHT_PING_QUEUE = 100
/** How long a peer's DHT request may take to arrive and be answered before its stream is closed. */
export const DHT_INCOMING_MESSAGE_TIMEOUT_MS = 10_000
/**
 * Provider records the DHT stores for other peers, in total (each is a datastore entry, kept
 * 48 h). Our own records are not counted: we only publish what we hold.
 */
export const MAX_DHT_PROVIDER_RECORDS = 65_536
/** Provider records one peer may make us store, so one peer cannot use up the total. */
export const MAX_DHT_PROVIDER_RECORDS_PER_PEER = 1024
/**
 * Providers stored for one key: a GET_PROVIDERS answer lists them all, so this bounds its size;
 * content is held by its producer and a few seeders.
 */
export const MAX_DHT_PROVIDERS_PER_KEY = 64
/**
 * Least time between two recounts of the stored provider records. The counts are kept in
 * memory; expired records are deleted behind them, so a full count is recounted before a
 * record is refused, at most this often.
 */
export const DHT_PROVIDER_RECOUNT_INTERVAL_MS = 60_000

// ---- files on disk and topology files --------------------------------------------------------

/**
 * Largest content block served or accepted over the block exchange: a chunk (at most 2 MiB,
 * bitswap's own cap) or a small whole; room to spare. A reply's length prefix over this (or
 * over the length the caller expects) fails the read before the bytes are taken in.
 */
export const MAX_CONTENT_BLOCK_BYTES = 4 * 1024 * 1024

/** A block request is one CID's bytes: version, codec, multihash (sha2-256: 36 bytes); room to spare. */
export const MAX_BLOCK_REQUEST_BYTES = 128

/**
 * Block requests served at once on one connection (libp2p resets streams past it), and to one
 * peer over all its connections: each holds a block of up to MAX_CONTENT_BLOCK_BYTES in
 * memory while it is sent. A fetch asks a provider for at most 16 chunks at once.
 */
export const MAX_BLOCK_STREAMS_PER_CONNECTION = 32
export const MAX_BLOCK_REQUESTS_SERVED_PER_PEER = 32

/** Longest one served block request may hold its stream, from open to the last byte. */
export const BLOCK_SERVE_DEADLINE_MS = 30_000

/**
 * How long a provider that sent bytes not matching the CID asked for is skipped as a named
 * provider (bitswap may still reach it), and how many such providers are remembered (the
 * oldest is forgotten first).
 */
export const LYING_PROVIDER_SKIP_MS = 10 * 60_000
export const MAX_LYING_PROVIDERS_REMEMBERED = 1024

// HTTP: the node's API and the completions API (src/actors/http/http-server.ts).

/**
 * A client has this long to send its request headers, and this long for the whole request
 * (headers and body), or gets 408 and the connection closed: a slow-loris client, trickling a
 * byte at a time, holds a connection no longer. Responses (streamed completions) are not bound
 * by it. Node checks them every HTTP_TIMEOUT_CHECK_INTERVAL_MS.
 */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000
export const HTTP_REQUEST_TIMEOUT_MS = 30_000
export const HTTP_TIMEOUT_CHECK_INTERVAL_MS = 1_000

/** Most request headers taken (the rest are dropped), and their total size (431 past it). */
export const HTTP_MAX_HEADERS_COUNT = 64
export const HTTP_MAX_HEADER_BYTES = 16 * 1024

/** Connections held open at once; past it new ones are closed on arrival. */
export const HTTP_MAX_CONNECTIONS = 256

/**
 * Largest JSON body the node's HTTP server reads (a completion request, an admin fault): a
 * client cannot make it buffer more; a body announced larger gets 413 before a byte of it is
 * read, and one that turns out larger gets it at the first chunk past the bound.
 */
export const MAX_HTTP_BODY_BYTES = 1024 * 1024

/**
 * Heights one `GET /chain/history` answers (~230 bytes each as JSON): a client asking for the
 * whole of a long chain gets 400 rather than make the node build a reply of megabytes per
 * request; without `to` it gets the first page, and pages on with `from`.
 */
export const MAX_CHAIN_HISTORY_HEIGHTS_PER_REQUEST = 256

/**
 * Results of recent transactions a node keeps for `GET /tx/<id>` (~200 bytes each): the
 * oldest is forgotten first, so a chain of busy blocks cannot grow the index; a client that
 * asks too late gets 404 and reads the block instead.
 */
export const MAX_RECENT_TX_RESULTS = 10_000

// ---- files on disk and topology files --------------------------------------------------------

/** Largest topology file read: the shipped ones are a few KB; a file is read whole into memory. */
export const MAX_TOPOLOGY_FILE_BYTES = 1024 * 1024

/**
 * Most values (mappings, lists and scalars, each alias counted as all it stands for) a
 * topology file may expand to: an alias bomb (a few lines of aliases to aliases) would
 * otherwise expand to billions of values, taking minutes and gigabytes.
 */
export const MAX_TOPOLOGY_EXPANDED_VALUES = 100_000

/** The `yaml` package's own alias bound (`toJS({ maxAliasCount })`), behind the count above. */
export const MAX_TOPOLOGY_ALIAS_COUNT = 100

// ---- published model checkpoints (src/ml/checkpoint/) ----------------------------------------

/**
 * Largest JSON header of a safetensors file, read whole and parsed: the format's own reference
 * reader refuses headers over 100 MB; a header of a 2B-parameter model is about 60 KB.
 */
export const MAX_SAFETENSORS_HEADER_BYTES = 100 * 1024 * 1024

/** Most tensors one safetensors file (or a sharded checkpoint's index) may list. */
export const MAX_SAFETENSORS_TENSORS = 65_536

/** Most elements of one checkpoint tensor (a 128k × 2560 embedding is 3.3·10⁸). */
export const MAX_CHECKPOINT_TENSOR_ELEMENTS = 2 ** 30

/** Largest config.json or model.safetensors.index.json of a checkpoint read whole into memory. */
export const MAX_CHECKPOINT_JSON_BYTES = 16 * 1024 * 1024

/** Largest tokenizer.json read whole (a 128k-token BPE vocabulary with its merges is about 9 MB). */
export const MAX_TOKENIZER_FILE_BYTES = 64 * 1024 * 1024

/** Most safetensors shards a checkpoint's index may name. */
export const MAX_CHECKPOINT_SHARDS = 1024

// Verification roles (src/actors/roles/): what peers' claims and challenges make a node remember.

/**
 * Entries each memory of a verification role keeps (a verifier's verdicts and finished
 * attempts; an arbiter's seats; a challenger's appeals and challenges; an aggregator's
 * results): anyone who bonds can open challenges, so the oldest entry is forgotten first. A
 * verifier's tickets are kept while their draws are open instead: the chain's open
 * challenges bound them, and a ticket forgotten while open was evaluated again every block.
 */
export const MAX_REMEMBERED_VERIFICATIONS = 256

/**
 * Claims a challenger remembers having collected for a check: those of the three newest
 * windows it looks at, 10,000 and more a window. Fewer, and a large network's claims would push
 * each other out and be collected, and checked, again and again. Claims come from the chain's
 * state (bounded by consensus), not from any one peer.
 */
export const MAX_COLLECTED_CLAIMS = 32_768

/**
 * Blocks whose written claims a node's chain state remembers (chain/write-log.ts), so a
 * challenger reads what changed since its last block instead of three windows' claims. A
 * reader further behind walks the windows as before. Written by the node's own execution, not
 * by any peer; a block writes each claim key once.
 */
export const CLAIM_WRITE_LOG_HEIGHTS = 64

/**
 * Claims a challenger's queue holds for a check, in check order (past it the last in order
 * wait outside and are collected again at a later block). Every challenger queues every
 * flagged claim, a large network's hundreds a window: fewer, and the overflow would be
 * dropped and collected again at every block. Claims come from the chain's state.
 */
export const MAX_QUEUED_CHECKS = 4096

/**
 * Re-executions waiting their turn (a verifier's one-at-a-time queue).
 * Over it the one whose deadline is latest waits outside and is asked for again at a later block.
 */
export const MAX_QUEUED_REEXECUTIONS = 64

/**
 * Steps a stage's step trace may list (step-trace.ts: one leaf per inner step of a task plus
 * its pseudo-gradient, so the chain's largest `innerSteps`, 1024, plus one): a disputed
 * trace's index is fetched, decoded and hashed into a Merkle tree.
 */
export const MAX_TRACE_STEPS = 1025

/** Bytes of a step trace's index (each step a 64-hex leaf and a CID, about 140 bytes of JSON). */
export const MAX_STEP_TRACE_BYTES = 160 * 1024

/**
 * Received tensors a stage trace may name per direction: one per inner step and micro-batch
 * of a task (H·M, at most the chain's 1024 × 64), each a CID a verifier fetches in a whole
 * re-execution.
 */
export const MAX_TRACE_TENSORS = 65_536

/** Bytes of a stage trace (two lists of up to MAX_TRACE_TENSORS CIDs of about 62 bytes of JSON each). */
export const MAX_STAGE_TRACE_BYTES = 8 * 1024 * 1024

/** Largest config.toml read: a written one is about 2 KB; a file is read whole into memory. */
export const MAX_CONFIG_FILE_BYTES = 64 * 1024

/** Largest keystore file read: one is about 600 bytes of JSON. */
export const MAX_KEYSTORE_FILE_BYTES = 4 * 1024

/** Largest passphrase file read (the passphrase is its first line). */
export const MAX_PASSPHRASE_FILE_BYTES = 4 * 1024

/**
 * Most memory the scrypt parameters of a keystore file may ask for (128·N·r bytes): a file
 * naming a huge N would otherwise make opening it take gigabytes. Ours asks for 32 MiB.
 */
export const MAX_KEYSTORE_SCRYPT_MEMORY_BYTES = 256 * 1024 * 1024

// ---- tokenizers ---------------------------------------------------------------------------

/** Highest token id + 1 a tokenizer may declare: bounds the id → bytes table built from it. */
export const MAX_TOKENIZER_VOCAB = 262_144

// ---- the live network page (src/dashboard/) -----------------------------------------------

/**
 * Points each of the page's time series keeps (chain height, tokens trained per second, one a
 * poll): the oldest is dropped first, so a dashboard left open for days holds no more.
 */
export const DASHBOARD_HISTORY_POINTS = 900
/** Browsers following the page's server-sent events at once; one more gets 503. */
export const MAX_DASHBOARD_SSE_CLIENTS = 32
/**
 * Bytes of events a browser may leave unread on its connection: one that reads no faster
 * than the snapshots come is disconnected rather than buffered without end.
 */
export const MAX_DASHBOARD_SSE_BUFFERED_BYTES = 4 * 1024 * 1024
/** Node APIs one dashboard follows (`r3mes dashboard --nodes`). */
export const MAX_DASHBOARD_NODES = 256
/** Longest answer the dashboard reads from a node's API; a longer one counts as no answer. */
export const MAX_DASHBOARD_NODE_ANSWER_BYTES = 16 * 1024 * 1024
/** How long a node has to answer one of the dashboard's requests before it shows as down. */
export const DASHBOARD_NODE_REQUEST_TIMEOUT_MS = 3_000
/** Disputes the page lists (the newest; older ones are forgotten). */
export const MAX_DASHBOARD_DISPUTES = 64
/** Pipelines (one per shard of the current window) the page draws; the rest are counted. */
export const MAX_DASHBOARD_PIPELINES = 16
