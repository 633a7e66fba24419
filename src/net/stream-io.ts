/**
 * Adapters between libp2p 3 message streams and it-pipe's source/sink shape, with
 * backpressure both ways. libp2p's own `messageStreamToDuplex` buffers inbound data without
 * bound; here the reader pauses the stream (yamux then stops granting send window, so the
 * remote's `send` returns false and it waits for 'drain') once `highWaterBytes` are queued
 * and resumes when the consumer has drained half of them.
 *
 * A stream's 'end' fires once, and bytes can still come after it: multistream-select reads
 * ahead while it negotiates a protocol, and when it hands the stream over it pushes back what it
 * read past the protocol line. A remote that answers and closes at once (a receiver's ack or
 * nack, a sender's whole tensor) has by then ended the stream. So the reader ends only once the
 * stream has ended (or closed) AND its read buffer is empty; bytes still in the buffer come as
 * 'message' events once a listener is attached or the read resumes.
 */
import type { AbortOptions, MessageStream, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

export interface ReadOptions {
  /** Bytes queued before the stream is paused. @default 4 MiB */
  highWaterBytes?: number
}

export function streamSource(
  stream: Stream,
  options: ReadOptions = {},
): AsyncGenerator<Uint8Array | Uint8ArrayList, void, undefined> {
  const highWater = options.highWaterBytes ?? 4 * 1024 * 1024
  const queue: (Uint8Array | Uint8ArrayList)[] = []
  let queuedBytes = 0
  let ended = false
  let failure: Error | undefined
  let wake: (() => void) | undefined
  const notify = (): void => {
    const w = wake
    wake = undefined
    w?.()
  }
  const onMessage = (evt: { data: Uint8Array | Uint8ArrayList }): void => {
    queue.push(evt.data)
    queuedBytes += evt.data.byteLength
    // pause() throws once the stream is closing; a throw here would surface inside the
    // muxer's dispatch, so only pause a stream that is still readable.
    if (queuedBytes >= highWater && stream.readStatus === 'readable') stream.pause()
    notify()
  }
  const onEnd = (): void => {
    ended = true
    notify()
  }
  const onClose = (evt: { error?: Error }): void => {
    ended = true
    failure = evt.error
    notify()
  }
  stream.addEventListener('message', onMessage)
  stream.addEventListener('end', onEnd)
  stream.addEventListener('close', onClose)
  return (async function* () {
    try {
      for (;;) {
        const next = queue.shift()
        if (next !== undefined) {
          queuedBytes -= next.byteLength
          if (queuedBytes <= highWater / 2 && stream.readStatus === 'paused') stream.resume()
          yield next
          continue
        }
        if (failure !== undefined) throw failure
        if ((ended || stream.readableEnded) && stream.readBufferLength === 0) return
        await new Promise<void>((resolve) => {
          wake = resolve
        })
      }
    } finally {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('end', onEnd)
      stream.removeEventListener('close', onClose)
    }
  })()
}

/** An it-pipe sink that writes to the stream, waiting for 'drain' whenever `send` says so. */
export function streamSink(
  stream: MessageStream,
  options: AbortOptions & { closeWhenDone?: boolean } = {},
): (source: AsyncIterable<Uint8Array | Uint8ArrayList> | Iterable<Uint8Array | Uint8ArrayList>) => Promise<void> {
  return async (source) => {
    for await (const chunk of source) {
      if (!stream.send(chunk)) await stream.onDrain(options)
    }
    if (options.closeWhenDone !== false) await stream.close(options)
  }
}
