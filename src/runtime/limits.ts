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

// ---- chain application --------------------------------------------------------------------

// ---- network: streams, inboxes, block exchange, HTTP --------------------------------------

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
