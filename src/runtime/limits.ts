/**
 * Every bound on what a peer, a client or a file on disk can make a node hold, loop over or
 * allocate, in one place (as go-libp2p's resource manager keeps its limits): per peer and in
 * total, with units last in the names. docs/SECURITY.md lists each with what it protects.
 *
 * A module that enforces a limit imports it from here, so the value a reader sees is the one
 * the node runs with. Pure data: importable from every layer (the consensus core and the
 * chain included).
 */

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

/** Least time between two decided blocks sent to one peer in answer to its `status`. */
export const MIN_HELP_INTERVAL_PER_PEER_MS = 100

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

// ---- network: streams, inboxes, block exchange, HTTP --------------------------------------

/**
 * Largest tensor an activation stream takes, checked on its header before anything is
 * allocated; a node that knows the model's boundary shape (a miner) takes exactly that size.
 */
export const MAX_TENSOR_BYTES = 256 * 1024 * 1024
/** Concurrent inbound activation streams per connection: with MAX_TENSOR_BYTES, a peer's receive buffers. */
export const MAX_INBOUND_TENSOR_STREAMS = 4

/** Tensors a miner holds for stages that have not asked for them yet, from all senders together. */
export const MAX_INBOX_TENSORS = 64
/** Bytes of such tensors held, from all senders together. */
export const MAX_INBOX_BYTES = 512 * 1024 * 1024
/**
 * Tensors held from one sender: a pipeline neighbour sends one per shard and direction of the
 * window now open and the next; a neighbour cannot crowd out the others.
 */
export const MAX_INBOX_TENSORS_PER_SENDER = 16
/** Bytes held from one sender. */
export const MAX_INBOX_BYTES_PER_SENDER = 128 * 1024 * 1024

/** Largest JSON body the node API reads (admin requests): a client cannot make it buffer more. */
export const MAX_NODE_API_BODY_BYTES = 64 * 1024

// Block exchange (src/net/block-exchange.ts, src/net/content-store.ts).

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
