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

// ---- files on disk and topology files --------------------------------------------------------

/**
 * Alias expansions a topology file may make (yaml's `maxAliasCount`). Each alias copies its
 * anchor's whole subtree, so nested aliases grow a few lines of text exponentially (the
 * "billion laughs" file); a real topology uses a handful.
 */
export const MAX_YAML_ALIAS_COUNT = 100
