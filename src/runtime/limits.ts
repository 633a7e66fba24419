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

// ---- files on disk and topology files --------------------------------------------------------
