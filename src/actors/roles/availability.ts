/**
 * Data availability: whether the content a claim names can be had, from its owner or from the
 * nodes that may hold it too (the miners of a replicated task store the same CID), within a
 * deadline. "Nobody served it in time" is an answer of its own, a `ContentUnavailableError`,
 * distinct from "it arrived corrupt" (the owner's fault): the verifier answers 'unavailable',
 * an arbiter votes 'unavailable' and the aggregator leaves the claim out, instead of waiting
 * until the chain penalizes them for content its owner withheld.
 */
import type { ChainReader } from '../../chain/reader.ts'
import type { Claim } from '../../chain/state.ts'
import { ContentIntegrityError, MalformedMessageError } from '../../net/errors.ts'
import { R3mesError } from '../../runtime/errors.ts'
import type { ContentFetcher } from '../services/content-fetcher.ts'

/**
 * Blocks a transaction may take to land after its sender saw a block: sent on seeing block h,
 * it is on chain by h + 3 on a busy network (in the next proposal, or the one after if that
 * one was already built). An answer or vote that must land by a deadline is sent no later
 * than this many blocks before it (in a chaos run, a vote sent one block before its deadline
 * landed after it, and its arbiter was penalized).
 */
export const TX_INCLUSION_BLOCKS = 3

export class ContentUnavailableError extends R3mesError {
  constructor(cid: string, holders: readonly string[], options?: ErrorOptions) {
    super(
      'ERR_CONTENT_UNAVAILABLE',
      `content ${cid} was not served in time by its holders (${holders.join(', ')}) nor anyone else`,
      { cid, holders: [...holders] },
      options,
    )
  }
}

/** What an availability check reads: the claim's task (its replicas), and the content. */
export interface AvailabilityComponents {
  readonly chain: Pick<ChainReader, 'tasks'>
  readonly content: Pick<ContentFetcher, 'fetch'>
}

/**
 * Who may hold the bytes of `claim`: its owner first, then the other miners of its task (an
 * honest replica stored the same CID, so a claim whose replica serves it is available).
 */
export function holdersOf(chain: AvailabilityComponents['chain'], claim: Claim): string[] {
  if (claim.taskId === null) return [claim.owner]
  const task = chain.tasks(claim.window).find((t) => t.id === claim.taskId)
  return [claim.owner, ...(task?.miners ?? []).filter((m) => m !== claim.owner)]
}

/**
 * Bytes by CID, asked of `holders` first (then the announced holders and the network). Bytes
 * that do not match their CID, or content that is not what it claims to be, fail as the
 * content store reports them (the owner's fault); a caller's abort is passed on as is; any
 * other failure means nobody served the content in time: a `ContentUnavailableError`. (The
 * fetch's own deadline does not surface as one error type: bitswap reports its abort in its
 * own words, so the rule is "not corrupt and not cancelled", not "a DeadlineError".)
 */
export async function fetchAvailable(
  content: AvailabilityComponents['content'],
  cid: string,
  holders: readonly string[],
  options: { signal?: AbortSignal; deadlineMs?: number } = {},
): Promise<Uint8Array> {
  try {
    return await content.fetch(cid, {
      from: holders,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.deadlineMs === undefined ? {} : { deadlineMs: options.deadlineMs }),
    })
  } catch (error) {
    if (options.signal?.aborted === true) throw error
    if (error instanceof ContentIntegrityError || error instanceof MalformedMessageError) throw error
    throw new ContentUnavailableError(cid, holders, { cause: error })
  }
}

/** The content a claim names (a submission's gradient, an aggregate's adapter state), as `fetchAvailable` gets it. */
export function fetchClaimContent(
  components: AvailabilityComponents,
  claim: Claim,
  options: { signal?: AbortSignal; deadlineMs?: number } = {},
): Promise<Uint8Array> {
  return fetchAvailable(components.content, claim.cid, holdersOf(components.chain, claim), options)
}
