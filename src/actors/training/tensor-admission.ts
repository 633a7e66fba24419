/**
 * Which inbound tensors a miner takes, decided on the stream's header against the chain,
 * before a byte of the payload is read or a buffer allocated:
 *
 *   - the sender is a staker (the chain records each staker's peer id);
 *   - the window is the one now open, or the next (a neighbour a block ahead may start early);
 *   - the sender is a pipeline neighbour for that tensor: in the open window, a miner of the
 *     neighbouring subnet's task on the same path step (upstream for activations, downstream
 *     for activation-gradients) of this node's task; for the next window, whose tasks are not
 *     drawn yet, a miner registered in the neighbouring subnet;
 *   - the inner step is one of the task's H and the micro-batch one of its M, and the size is
 *     the model's boundary shape for one micro-batch ((sequences / M) × tokens × dModel
 *     float32), the only size an honest stage sends either way: H and M as the tensor's window
 *     recorded them (its protocol);
 *   - the inbox has room for it without evicting anything a stage may still need, unless it is
 *     a spare copy of one a stage already took (the inbox drops it: refused, its sender would
 *     try again until its deadline).
 *
 * Each refusal is a TensorRefusedError whose code the sender sees in its nack.
 */
import type { PeerId } from '@libp2p/interface'
import type { ChainReader } from '../../chain/reader.ts'
import type { ModelConfig } from '../../ml/config.ts'
import type { ActivationStreams, TensorHeader } from '../../net/activation-stream.ts'
import { R3mesError } from '../../runtime/errors.ts'
import type { Logger } from '../../runtime/logger.ts'
import type { TrainingProtocol } from './protocol.ts'
import { InboxFullError, type TensorInbox } from './tensor-inbox.ts'

export const TensorRefusal = {
  unknownSender: 'ERR_TENSOR_UNKNOWN_SENDER',
  wrongWindow: 'ERR_TENSOR_WRONG_WINDOW',
  notNeighbour: 'ERR_TENSOR_NOT_NEIGHBOUR',
  wrongSize: 'ERR_TENSOR_WRONG_SIZE',
  wrongStep: 'ERR_TENSOR_WRONG_STEP',
  inboxFull: 'ERR_TENSOR_INBOX_FULL',
} as const
export type TensorRefusalCode = (typeof TensorRefusal)[keyof typeof TensorRefusal]

export class TensorRefusedError extends R3mesError {
  constructor(code: TensorRefusalCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details)
  }
}

/**
 * Bytes of the tensor that crosses any subnet boundary, activations or their gradients: one
 * float32 per model dimension for each token of one micro-batch of an inner step's batch.
 */
export function boundaryTensorBytes(config: ModelConfig, protocol: TrainingProtocol): number {
  const sequences = protocol.sequences / protocol.microBatches
  return sequences * protocol.tokens * config.dModel * Float32Array.BYTES_PER_ELEMENT
}

interface StakerView {
  readonly address: string
  readonly roles: readonly string[]
  readonly subnet: number | null
}

export interface TensorReceiverInit {
  /** This node's chain address. */
  readonly self: string
  /** The chain state the header is checked against. */
  readonly chain: Pick<ChainReader, 'currentWindow' | 'tasks' | 'staker' | 'stakers'>
  /** Bytes of a micro-batch's tensor at a subnet boundary, either direction, in a window. */
  readonly tensorBytes: (window: number) => number
  /** The protocol of a window: a tensor's inner step and micro-batch are below its H and M. */
  readonly protocolAt: (window: number) => Pick<TrainingProtocol, 'innerSteps' | 'microBatches'>
  readonly inbox: TensorInbox
  readonly logger: Logger
}

/** The window now open (the latest opened), or -1 before the first. */
function openWindowOf(chain: TensorReceiverInit['chain']): number {
  return chain.currentWindow()?.id ?? -1
}

/** The staker behind `peer`, or undefined: the one whose recorded peer id it is. */
function stakerOfPeer(chain: TensorReceiverInit['chain'], peer: PeerId): StakerView | undefined {
  const id = peer.toString()
  const found = chain.stakers().find((s) => s.staker.peerId === id)
  return found === undefined
    ? undefined
    : { address: found.address, roles: found.staker.roles, subnet: found.staker.subnet }
}

/** Throws the TensorRefusedError `header` from `sender` deserves, or returns the open window. */
export function admitTensor(init: TensorReceiverInit, header: TensorHeader, sender: StakerView | undefined): number {
  if (sender === undefined) throw new TensorRefusedError(TensorRefusal.unknownSender, 'the sender is not a staker')
  const open = openWindowOf(init.chain)
  if (header.window !== open && header.window !== open + 1)
    throw new TensorRefusedError(
      TensorRefusal.wrongWindow,
      `window ${header.window} is neither the open window ${open} nor the next`,
      { window: header.window, open },
    )
  const { innerSteps, microBatches } = init.protocolAt(header.window)
  if (header.innerStep >= innerSteps || header.microBatch >= microBatches)
    throw new TensorRefusedError(
      TensorRefusal.wrongStep,
      `inner step ${header.innerStep} micro-batch ${header.microBatch} is outside ${innerSteps} steps of ${microBatches}`,
      { innerStep: header.innerStep, microBatch: header.microBatch },
    )
  const expected = init.tensorBytes(header.window)
  if (header.sizeBytes !== expected)
    throw new TensorRefusedError(
      TensorRefusal.wrongSize,
      `a boundary tensor of window ${header.window} is ${expected} bytes, not ${header.sizeBytes}`,
      { sizeBytes: header.sizeBytes },
    )
  // Activations come from the subnet before this node's, activation-gradients from the one after.
  const offset = header.direction === 'forward' ? -1 : 1
  if (header.window === open) {
    const tasks = init.chain.tasks(open)
    const mine = tasks.find((t) => t.shard === header.step && t.miners.includes(init.self))
    const neighbour =
      mine === undefined ? undefined : tasks.find((t) => t.shard === header.step && t.subnet === mine.subnet + offset)
    if (neighbour === undefined || !neighbour.miners.includes(sender.address))
      throw new TensorRefusedError(
        TensorRefusal.notNeighbour,
        `${sender.address} is not this node's ${header.direction === 'forward' ? 'upstream' : 'downstream'} neighbour on step ${header.step} of window ${open}`,
      )
  } else {
    const mySubnet = init.chain.staker(init.self)?.subnet ?? null
    if (mySubnet === null || !sender.roles.includes('miner') || sender.subnet !== mySubnet + offset)
      throw new TensorRefusedError(
        TensorRefusal.notNeighbour,
        `${sender.address} is not a miner of the ${header.direction === 'forward' ? 'upstream' : 'downstream'} subnet`,
      )
  }
  const at = { step: header.step, innerStep: header.innerStep, microBatch: header.microBatch }
  if (
    !init.inbox.isSpare(header.window, at, header.direction, sender.address) &&
    !init.inbox.hasRoom(sender.address, header.sizeBytes, open)
  )
    throw new TensorRefusedError(TensorRefusal.inboxFull, `no room for another tensor from ${sender.address}`)
  return open
}

/**
 * Make `streams` a miner's tensor receiver: every header passes `admitTensor` before its
 * payload is read, and admitted tensors go to the inbox.
 */
export function installTensorReceiver(streams: ActivationStreams, init: TensorReceiverInit): void {
  streams.admitWith((header, from) => {
    admitTensor(init, header, stakerOfPeer(init.chain, from))
  })
  streams.onTensor((t) => {
    const sender = stakerOfPeer(init.chain, t.from)
    if (sender === undefined) return
    try {
      const { window, step, innerStep, microBatch, direction } = t.header
      const open = openWindowOf(init.chain)
      const fate = init.inbox.deliver(window, { step, innerStep, microBatch }, direction, sender.address, t.bytes, open)
      init.logger.debug(
        { from: sender.address, window, step, innerStep, microBatch, direction, open, fate, held: init.inbox.size },
        'tensor delivered',
      )
    } catch (error) {
      // Another stream from the same sender took the room between its header and its end.
      if (!(error instanceof InboxFullError)) throw error
      init.logger.warn({ from: sender.address, reason: error.message }, 'tensor dropped: inbox full')
    }
  })
}
