/**
 * Sending a boundary tensor to a pipeline neighbour by its staker address, trying again (a
 * neighbour may not be reachable yet, or may not have opened the window) until a deadline.
 */
import type { ActivationStreams } from '../../net/activation-stream.ts'
import { type Clock, sleep } from '../../runtime/clock.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { PeerDirectory } from '../services/peer-directory.ts'
import type { Direction } from './tensor-inbox.ts'

/** Shortest deadline one attempt gets; a send with less time left than this is given up. */
const MIN_ATTEMPT_MS = 1_000
/** Pause between attempts grows from this, doubling... */
const FIRST_RETRY_PAUSE_MS = 250
/** ...up to this. */
const MAX_RETRY_PAUSE_MS = 2_000

export interface OutgoingTensor {
  readonly direction: Direction
  readonly window: number
  /** The path step: the task's shard. */
  readonly step: number
  /** The task's inner step. */
  readonly innerStep: number
  /** The micro-batch of the inner step. */
  readonly microBatch: number
  readonly bytes: Uint8Array
}

export interface TensorSender {
  /**
   * Send `tensor` to the miner at `address`, attempt after attempt until `untilMs` (monotonic);
   * a send that never gets through is logged and given up (the neighbour's wait fails at its
   * own deadline), so this never throws for an unreachable neighbour.
   */
  send(address: string, tensor: OutgoingTensor, untilMs: number, signal?: AbortSignal): Promise<void>
}

export interface TensorSenderComponents {
  readonly activations: Pick<ActivationStreams, 'send'>
  readonly peers: Pick<PeerDirectory, 'peerOf'>
  readonly clock: Clock
  readonly logger: Logger
}

export function tensorSender(components: TensorSenderComponents): TensorSender {
  const { activations, peers, clock, logger } = components
  return {
    async send(address, tensor, untilMs, signal) {
      for (let attempt = 0; ; attempt++) {
        const left = untilMs - clock.monotonicMs()
        try {
          await activations.send(peers.peerOf(address), tensor, {
            ...(signal === undefined ? {} : { signal }),
            deadlineMs: Math.max(MIN_ATTEMPT_MS, left),
          })
          return
        } catch (error) {
          logger.debug({ err: error, to: address, direction: tensor.direction, attempt }, 'tensor send attempt failed')
          if (signal?.aborted === true || left < MIN_ATTEMPT_MS) {
            logger.warn({ err: error, to: address, direction: tensor.direction, attempt }, 'tensor send failed')
            return
          }
          await sleep(clock, Math.min(MAX_RETRY_PAUSE_MS, FIRST_RETRY_PAUSE_MS * 2 ** attempt), signal)
        }
      }
    },
  }
}
