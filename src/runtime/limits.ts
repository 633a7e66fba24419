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

// ---- consensus IO: WAL, mempool, the consensus channel ----------------------------------

// ---- chain application --------------------------------------------------------------------

// ---- network: streams, inboxes, block exchange, HTTP --------------------------------------

// ---- files on disk and topology files --------------------------------------------------------
