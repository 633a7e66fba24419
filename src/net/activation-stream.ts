/**
 * The activation-stream protocol: pipeline stages push tensors (activations forward,
 * activation-gradients backward) to each other over a dedicated libp2p protocol,
 * `/r3mes/<chainId>/activations/1.0.0`.
 *
 * One tensor per stream, as length-prefixed frames (unsigned varint length, then bytes):
 *
 *   sender → receiver   header frame: msgpack { v: 2, direction, window, step, innerStep, microBatch,
 *                                                 sizeBytes, cid }
 *   sender → receiver   data frames: the tensor's bytes, each frame ≤ maxFrameBytes
 *   receiver → sender   ack frame: msgpack { ok: true } or { ok: false, code, reason }
 *
 * `cid` is the raw sha2-256 CID of the tensor bytes; the receiver hashes what arrived and
 * refuses a mismatch. Backpressure is end to end (see stream-io.ts); a deadline bounds the
 * whole exchange on both sides, and a stream that delivers nothing for `idleMs` before its
 * last byte is closed. A bad frame (oversized, truncated, malformed, more bytes than
 * announced) ends that stream with a typed error and a nack naming the reason; the node and
 * its other streams carry on.
 *
 * A header costs no memory: receive memory is taken as the tensor's bytes arrive (see
 * tensor-receive-buffer.ts), so what a peer makes this node hold it has sent, and all
 * unfinished tensors together hold at most `maxInFlightBytes` (a stream past it is refused on
 * its header, before its payload), plus the pool of released receive buffers (buffer-pool.ts).
 *
 * A node takes tensors only when it has a pipeline stage (`receive`), and then an `admit`
 * check sees each header (and the sender) before a byte of the payload is read: a peer that
 * is not a pipeline neighbour, or announces the wrong window or size, costs one header.
 */
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'
import { bytesEqual } from '../codec/bytes.ts'
import { cidOf, cidOfDigest } from '../codec/cid.ts'
import { incrementalSha256 } from '../codec/hash.ts'
import { type Clock, sleep, type TimerHandle } from '../runtime/clock.ts'
import { R3mesError } from '../runtime/errors.ts'
import {
  MAX_INBOUND_TENSOR_BYTES_IN_FLIGHT,
  MAX_INBOUND_TENSOR_STREAMS,
  MAX_TENSOR_BYTES,
  TENSOR_EAGER_RECEIVE_BYTES,
  TENSOR_RECEIVE_PIECE_BYTES,
  TENSOR_STREAM_IDLE_MS,
} from '../runtime/limits.ts'
import type { Logger } from '../runtime/logger.ts'
import { BufferPool, type BufferPoolInit } from './buffer-pool.ts'
import { decodeMessage, encodeMessage } from './codec.ts'
import {
  BadFrameError,
  ContentIntegrityError,
  DeadlineExceededError,
  FaultInjectedError,
  MalformedMessageError,
  MessageTooLargeError,
  StreamIdleError,
} from './errors.ts'
import type { FaultInjector } from './faults.ts'
import { FrameReader } from './frame-reader.ts'
import { framingFault, readFramed } from './length-prefixed.ts'
import { streamSink, streamSource } from './stream-io.ts'
import { InFlightBytes, TensorReceiveBuffer, type TensorReceiveBufferInit } from './tensor-receive-buffer.ts'

export type TensorDirection = 'forward' | 'backward'

export interface TensorHeader {
  v: 2
  direction: TensorDirection
  window: number
  /** The pipeline path the tensor belongs to (the task's shard). */
  step: number
  /** The task's inner step the tensor belongs to (the receiver bounds it by the chain's H). */
  innerStep: number
  /** The micro-batch of that inner step (the receiver bounds it by the chain's M). */
  microBatch: number
  sizeBytes: number
  /** Raw sha2-256 CID of the tensor bytes, as a string. */
  cid: string
}

export interface ReceivedTensor {
  header: TensorHeader
  cid: CID
  bytes: Uint8Array
  from: PeerId
  /**
   * Hand `bytes` back for reuse by a later tensor of the same size, once done with them: it
   * spares that tensor the page faults of fresh memory. Optional (unreleased buffers are
   * garbage collected as usual); `bytes` must not be touched after it. Idempotent.
   */
  release(): void
}

export interface SendTensor {
  direction: TensorDirection
  window: number
  /** The pipeline path (the task's shard). */
  step: number
  /** @default 0 */
  innerStep?: number
  /** @default 0 */
  microBatch?: number
  bytes: Uint8Array
  /**
   * The raw CID of `bytes` when the caller already has it (pipeline stages content-address
   * every boundary tensor anyway); saves hashing twice. The receiver checks it regardless.
   * @default computed here
   */
  cid?: CID
}

export interface SendOptions {
  /** Whole-exchange deadline. @default the service's deadlineMs */
  deadlineMs?: number
  signal?: AbortSignal
}

export interface SendResult {
  cid: CID
  sizeBytes: number
}

/** The receiver refused a tensor; `remoteCode` is the receiver's error code. */
export class ActivationRejectedError extends R3mesError {
  readonly remoteCode: string
  constructor(remoteCode: string, reason: string) {
    super('ERR_ACTIVATION_REJECTED', `peer rejected the tensor: ${reason}`, { remoteCode, reason })
    this.remoteCode = remoteCode
  }
}

export interface ActivationStreamsInit {
  chainId: string
  /** Largest data frame accepted. @default 1 MiB */
  maxFrameBytes?: number
  /** Largest tensor accepted (checked on the header). @default MAX_TENSOR_BYTES */
  maxTensorBytes?: number
  /** Deadline for one tensor exchange, sending or receiving. @default 60 000 ms */
  deadlineMs?: number
  /** Concurrent inbound tensor streams per connection. @default MAX_INBOUND_TENSOR_STREAMS */
  maxInboundStreams?: number
  /**
   * Whether this node takes tensors at all: installs the protocol handler. A node without a
   * pipeline stage leaves it off, and a peer's stream to it is refused at protocol selection.
   * @default true
   */
  receive?: boolean
  /** Bounds of the pool of released receive buffers. @default see BufferPoolInit */
  receiveBuffers?: BufferPoolInit
  /**
   * Receive memory all unfinished inbound tensors may hold together; a stream past it is
   * refused on its header, or cut when its next piece would pass it.
   * @default MAX_INBOUND_TENSOR_BYTES_IN_FLIGHT
   */
  maxInFlightBytes?: number
  /** Tensors up to this size are received straight into one buffer. @default TENSOR_EAGER_RECEIVE_BYTES */
  eagerReceiveBytes?: number
  /** Larger tensors are received in pieces of this size, then copied once. @default TENSOR_RECEIVE_PIECE_BYTES */
  receivePieceBytes?: number
  /** An inbound stream delivering no byte for this long before its last is closed. @default TENSOR_STREAM_IDLE_MS */
  idleMs?: number
}

/**
 * Sees each inbound header and its sender before the payload is read; throws an R3mesError
 * (its code and message go back in the nack) to refuse the tensor.
 */
export type TensorAdmission = (header: TensorHeader, from: PeerId) => void

export interface ActivationStreamsComponents {
  libp2p: Libp2p
  clock: Clock
  logger: Logger
  faults: FaultInjector
}

const MAX_HEADER_BYTES = 1024
const MAX_ACK_BYTES = 1024

export function activationProtocol(chainId: string): string {
  return `/r3mes/${chainId}/activations/1.0.0`
}

export class ActivationStreams {
  readonly protocol: string
  readonly #libp2p: Libp2p
  readonly #clock: Clock
  readonly #log: Logger
  readonly #faults: FaultInjector
  readonly maxFrameBytes: number
  readonly maxTensorBytes: number
  readonly #deadlineMs: number
  readonly #maxInboundStreams: number
  readonly #buffers: BufferPool
  readonly #inFlight: InFlightBytes
  readonly #receiveInit: TensorReceiveBufferInit
  readonly #idleMs: number
  readonly #receives: boolean
  #admit: TensorAdmission | undefined
  #handler: ((tensor: ReceivedTensor) => void | Promise<void>) | undefined
  /** Count of refused inbound tensors per error code (for tests, metrics and chaos checks). */
  readonly rejected = new Map<string, number>()
  received = 0
  /**
   * Bytes of receive buffers taken for inbound tensors (fresh or reused), counted as each
   * stream ends: what peers made this node set aside.
   */
  acquiredBytes = 0

  constructor(init: ActivationStreamsInit, components: ActivationStreamsComponents) {
    this.protocol = activationProtocol(init.chainId)
    this.#libp2p = components.libp2p
    this.#clock = components.clock
    this.#log = components.logger.child({ component: 'activations' })
    this.#faults = components.faults
    this.maxFrameBytes = init.maxFrameBytes ?? 1024 * 1024
    this.maxTensorBytes = init.maxTensorBytes ?? MAX_TENSOR_BYTES
    this.#deadlineMs = init.deadlineMs ?? 60_000
    this.#maxInboundStreams = init.maxInboundStreams ?? MAX_INBOUND_TENSOR_STREAMS
    this.#receives = init.receive ?? true
    this.#buffers = new BufferPool(init.receiveBuffers)
    this.#inFlight = new InFlightBytes(
      init.maxInFlightBytes ?? MAX_INBOUND_TENSOR_BYTES_IN_FLIGHT,
      'unfinished inbound tensors',
    )
    this.#receiveInit = {
      eagerBytes: init.eagerReceiveBytes ?? TENSOR_EAGER_RECEIVE_BYTES,
      pieceBytes: init.receivePieceBytes ?? TENSOR_RECEIVE_PIECE_BYTES,
    }
    this.#idleMs = init.idleMs ?? TENSOR_STREAM_IDLE_MS
  }

  /** Receive memory held by unfinished inbound tensors now, over all peers and streams. */
  get inFlightBytes(): number {
    return this.#inFlight.heldBytes
  }

  /** Receive buffers handed out again instead of allocated. */
  get reusedBuffers(): number {
    return this.#buffers.reused
  }

  async start(): Promise<void> {
    if (!this.#receives) return
    await this.#libp2p.handle(
      this.protocol,
      (stream, connection) => {
        this.#receive(stream, connection.remotePeer).catch((error: unknown) => {
          this.#log.error({ err: error }, 'activation stream handler failed')
          stream.abort(error instanceof Error ? error : new Error(String(error)))
        })
      },
      { maxInboundStreams: this.#maxInboundStreams },
    )
  }

  async stop(): Promise<void> {
    if (this.#receives) await this.#libp2p.unhandle(this.protocol)
  }

  /** Check every inbound header (and its sender) with `admit` before reading the payload. */
  admitWith(admit: TensorAdmission): void {
    this.#admit = admit
  }

  /** Where received tensors go once their CID checks out. */
  onTensor(handler: (tensor: ReceivedTensor) => void | Promise<void>): void {
    this.#handler = handler
  }

  /** Stream one tensor to `peer`; resolves once the receiver has checked its CID. */
  async send(peer: PeerId, tensor: SendTensor, options: SendOptions = {}): Promise<SendResult> {
    const deadlineMs = options.deadlineMs ?? this.#deadlineMs
    const cid = tensor.cid ?? cidOf(tensor.bytes)
    const header: TensorHeader = {
      v: 2,
      direction: tensor.direction,
      window: tensor.window,
      step: tensor.step,
      innerStep: tensor.innerStep ?? 0,
      microBatch: tensor.microBatch ?? 0,
      sizeBytes: tensor.bytes.byteLength,
      cid: cid.toString(),
    }
    const { signal, done } = this.#deadline('sending a tensor', deadlineMs, options.signal)
    const peerId = peer.toString()
    try {
      const link = this.#faults.linkFaults(peerId)
      if (link.delayMs > 0) await sleep(this.#clock, link.delayMs, signal)
      const stream = await this.#libp2p.dialProtocol(peer, this.protocol, { signal })
      const abort = (): void => stream.abort(signal.reason as Error)
      signal.addEventListener('abort', abort, { once: true })
      try {
        if (this.#faults.shouldDrop(peerId)) {
          const error = new FaultInjectedError('loss', peerId)
          stream.abort(error)
          throw error
        }
        const ack = readFirstFrame(stream, MAX_ACK_BYTES, `ack from ${peerId}`)
        // Surface a failed read later, through `await ack`, not as an unhandled rejection.
        ack.catch(() => {})
        const frameBytes = this.maxFrameBytes
        let writeError: unknown
        await pipe(
          function* () {
            // Prefix and payload go out as two writes so the tensor is never copied here.
            const head = encodeMessage(header, MAX_HEADER_BYTES, 'tensor header')
            yield varint.encode(head.byteLength)
            yield head
            for (let offset = 0; offset < tensor.bytes.byteLength; offset += frameBytes) {
              const frame = tensor.bytes.subarray(offset, offset + frameBytes)
              yield varint.encode(frame.byteLength)
              yield frame
            }
          },
          streamSink(stream, { signal, closeWhenDone: false }),
        ).catch((error: unknown) => {
          // The receiver may refuse early (say, on the header) and stop reading; its nack
          // names the reason better than the write failure does, so read it first.
          writeError = error
        })
        let replyBytes: Uint8Array
        try {
          replyBytes = await ack
        } catch (error) {
          throw writeError ?? error
        }
        const reply = decodeAck(replyBytes, `ack from ${peerId}`)
        if (!reply.ok) throw new ActivationRejectedError(reply.code, reply.reason)
        if (writeError !== undefined) throw writeError
        await stream.close({ signal }).catch(() => {})
        return { cid, sizeBytes: header.sizeBytes }
      } catch (error) {
        // A receiver that answered badly, or not at all, may have left the stream open: reset
        // it so it does not hold one of our outbound streams until the muxer's idle timeout.
        if (stream.status === 'open') stream.abort(error instanceof Error ? error : new Error(String(error)))
        throw error
      } finally {
        signal.removeEventListener('abort', abort)
      }
    } catch (error) {
      if (signal.aborted && signal.reason instanceof DeadlineExceededError) throw signal.reason
      throw error
    } finally {
      done()
    }
  }

  async #receive(stream: Stream, from: PeerId): Promise<void> {
    const deadline = this.#deadline('receiving a tensor', this.#deadlineMs)
    // Until its last byte, a stream that delivers nothing for #idleMs is closed: a sender that
    // stops mid-tensor frees what it made us hold long before the deadline.
    const idle = new AbortController()
    const signal = AbortSignal.any([deadline.signal, idle.signal])
    let reading = true
    let lastByteMs = this.#clock.monotonicMs()
    let watchdog: TimerHandle | undefined
    const watch = (delayMs: number): void => {
      watchdog = this.#clock.setTimer(delayMs, () => {
        if (!reading) return
        const quietMs = this.#clock.monotonicMs() - lastByteMs
        if (quietMs >= this.#idleMs) idle.abort(new StreamIdleError('an inbound tensor stream', this.#idleMs))
        else watch(this.#idleMs - quietMs)
      })
    }
    watch(this.#idleMs)
    const abort = (): void => stream.abort(signal.reason as Error)
    signal.addEventListener('abort', abort, { once: true })
    try {
      const tensor = await this.#readTensor(stream, from, () => {
        lastByteMs = this.#clock.monotonicMs()
      })
      reading = false
      watchdog?.cancel()
      stream.send(lp.encode.single(encodeMessage({ ok: true }, MAX_ACK_BYTES, 'ack')))
      const acked = this.#clock.monotonicMs()
      await stream.close({ signal }).catch(() => {})
      this.received++
      const { direction, window, step, innerStep, microBatch } = tensor.header
      this.#log.debug(
        {
          peer: from.toString(),
          direction,
          window,
          step,
          innerStep,
          microBatch,
          closeMs: this.#clock.monotonicMs() - acked,
        },
        'tensor received',
      )
      await this.#handler?.(tensor)
    } catch (error) {
      const failure = signal.aborted ? (signal.reason as Error) : toFrameError(error)
      const code = failure instanceof R3mesError ? failure.code : 'ERR_UNKNOWN'
      this.rejected.set(code, (this.rejected.get(code) ?? 0) + 1)
      this.#log.warn({ peer: from.toString(), code, reason: failure.message }, 'activation stream refused')
      // Answer with a nack, then close both halves: what the sender still has in flight is
      // discarded (closeRead) rather than buffered. A reset (abort) is the last resort, as it
      // could overtake the nack.
      try {
        if (stream.writeStatus === 'writable') {
          stream.send(lp.encode.single(encodeMessage({ ok: false, code, reason: failure.message }, MAX_ACK_BYTES)))
          await stream.close({ signal })
        }
        await stream.closeRead({ signal })
      } catch {
        if (stream.status === 'open') stream.abort(failure)
      }
    } finally {
      reading = false
      watchdog?.cancel()
      signal.removeEventListener('abort', abort)
      deadline.done()
    }
  }

  /** Read, check and assemble one tensor; `onChunk` hears of every chunk that arrives. */
  async #readTensor(stream: Stream, from: PeerId, onChunk: () => void): Promise<ReceivedTensor> {
    // Pause once a full yamux window is queued: enough to keep the link busy while the
    // frames are copied and hashed, bounded per stream.
    const reader = new FrameReader(
      noting(streamSource(stream, { highWaterBytes: Math.max(8 * 1024 * 1024, 2 * this.maxFrameBytes) }), onChunk),
    )
    let buffer: TensorReceiveBuffer | undefined
    try {
      const headerLength = await reader.nextLength(MAX_HEADER_BYTES)
      if (headerLength === undefined) throw new BadFrameError('stream ended before the header')
      const header = decodeHeader(await reader.readBytes(headerLength))
      if (header.sizeBytes > this.maxTensorBytes)
        throw new MessageTooLargeError('announced tensor', header.sizeBytes, this.maxTensorBytes)
      this.#admit?.(header, from)
      // Refused here, before its payload, when the node already holds so much for unfinished
      // tensors that this one's first buffer would pass the bound.
      this.#inFlight.check(TensorReceiveBuffer.firstTakeBytes(header.sizeBytes, this.#receiveInit))
      const into = new TensorReceiveBuffer(header.sizeBytes, this.#buffers, this.#inFlight, this.#receiveInit)
      buffer = into
      // Each frame is copied from the stream's chunks straight into place (memory taken as
      // the bytes arrive, see TensorReceiveBuffer) and hashed on the way, so the CID check is
      // done when the last byte lands.
      const hash = incrementalSha256()
      const onPiece = (piece: Uint8Array): void => {
        hash.update(piece)
        into.write(piece)
      }
      let received = 0
      while (received < header.sizeBytes) {
        const length = await reader.nextLength(this.maxFrameBytes)
        if (length === undefined)
          throw new BadFrameError(`truncated: ${received} of ${header.sizeBytes} bytes`, { received })
        if (received + length > header.sizeBytes)
          throw new BadFrameError('more bytes than the header announced', { sizeBytes: header.sizeBytes })
        await reader.readPieces(length, onPiece)
        received += length
      }
      const cid = CID.parse(header.cid)
      const actual = hash.digest()
      if (!bytesEqual(actual, cid.multihash.digest))
        throw new ContentIntegrityError(header.cid, cidOfDigest(actual).toString(), 'tensor')
      const bytes = into.finish()
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        this.#buffers.release(bytes)
      }
      return { header, cid, bytes, from, release }
    } finally {
      // A refused tensor's memory is given back (its one buffer, if any, kept for the next one).
      if (buffer !== undefined) {
        buffer.dispose()
        this.acquiredBytes += buffer.takenBytes
      }
      await reader.close()
    }
  }

  /** An abort signal that fires at the deadline (or with `parent`), and its cleanup. */
  #deadline(what: string, deadlineMs: number, parent?: AbortSignal): { signal: AbortSignal; done: () => void } {
    const controller = new AbortController()
    const timer = this.#clock.setTimer(deadlineMs, () => controller.abort(new DeadlineExceededError(what, deadlineMs)))
    const signal = parent === undefined ? controller.signal : AbortSignal.any([controller.signal, parent])
    return { signal, done: () => timer.cancel() }
  }
}

export function decodeHeader(bytes: Uint8Array): TensorHeader {
  let value: Partial<TensorHeader>
  try {
    value = decodeMessage(bytes, MAX_HEADER_BYTES, 'tensor header') as Partial<TensorHeader>
  } catch (error) {
    throw new BadFrameError(`header: ${(error as Error).message}`, {}, { cause: error })
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    value.v !== 2 ||
    (value.direction !== 'forward' && value.direction !== 'backward') ||
    !isUint(value.window) ||
    !isUint(value.step) ||
    !isUint(value.innerStep) ||
    !isUint(value.microBatch) ||
    !isUint(value.sizeBytes) ||
    typeof value.cid !== 'string'
  )
    throw new BadFrameError('header has missing or mistyped fields')
  let cid: CID
  try {
    cid = CID.parse(value.cid)
  } catch (error) {
    throw new BadFrameError('header CID does not parse', {}, { cause: error })
  }
  if (cid.code !== raw.code) throw new BadFrameError('header CID is not a raw CID')
  return value as TensorHeader
}

function isUint(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

type Ack = { ok: true } | { ok: false; code: string; reason: string }

function decodeAck(bytes: Uint8Array, what: string): Ack {
  const value = decodeMessage(bytes, MAX_ACK_BYTES, what) as Partial<{ ok: boolean; code: string; reason: string }>
  if (value?.ok === true) return { ok: true }
  if (value?.ok === false && typeof value.code === 'string' && typeof value.reason === 'string')
    return { ok: false, code: value.code, reason: value.reason }
  throw new MalformedMessageError(what, 'bad shape')
}

/** The first frame on `stream` (the receiver's ack), at most `maxBytes`; `what` names it in errors. */
async function readFirstFrame(stream: Stream, maxBytes: number, what: string): Promise<Uint8Array> {
  const frame = await readFramed(what, async () => {
    for await (const frame of lp.decode(streamSource(stream), { maxDataLength: maxBytes })) return frame
    return undefined
  })
  if (frame === undefined) throw new BadFrameError('stream closed before the acknowledgement')
  return frame instanceof Uint8ArrayList ? frame.subarray() : frame
}

/** Map framing-library errors to our typed ones so the nack names the reason. */
function toFrameError(error: unknown): Error {
  if (error instanceof R3mesError) return error
  const fault = framingFault(error)
  if (fault !== undefined) return new BadFrameError(fault, {}, { cause: error })
  return error instanceof Error ? error : new Error(String(error))
}

/** `source`, calling `onChunk` as each chunk arrives. */
async function* noting<T>(source: AsyncIterable<T>, onChunk: () => void): AsyncGenerator<T> {
  for await (const chunk of source) {
    onChunk()
    yield chunk
  }
}
