/**
 * Durable file writes: write to a temporary name, fsync, rename over, fsync the directory.
 *
 * `write(2)` may write fewer bytes than asked (a full disk, a signal, a quota): every write
 * here loops until all bytes are down, and a write that makes no progress throws
 * ShortWriteError, so a truncated file is never renamed over a good one.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { R3mesError } from './errors.ts'

/** A write to disk stopped short (full disk, quota): the file it was for is left as it was. */
export class ShortWriteError extends R3mesError {
  constructor(path: string, writtenBytes: number, expectedBytes: number) {
    super('ERR_SHORT_WRITE', `write to ${path} stopped after ${writtenBytes} of ${expectedBytes} bytes`, {
      path,
      writtenBytes,
      expectedBytes,
    })
  }
}

/** `fs.writeSync` as this module calls it; tests hand in one that writes fewer bytes. */
export type WriteFn = (fd: number, buffer: Uint8Array, offset: number, length: number) => number

const systemWrite: WriteFn = (fd, buffer, offset, length) => writeSync(fd, buffer, offset, length)

/**
 * Write all of `data` to `fd` at its current position, looping over short writes; throws
 * ShortWriteError (naming `path`) when a write makes no progress. Returns the bytes written.
 */
export function writeAll(fd: number, data: Uint8Array, path: string, write: WriteFn = systemWrite): number {
  let done = 0
  while (done < data.byteLength) {
    const n = write(fd, data, done, data.byteLength - done)
    if (!(n > 0)) throw new ShortWriteError(path, done, data.byteLength)
    done += n
  }
  return done
}

export function writeFileDurable(path: string, data: Uint8Array, write: WriteFn = systemWrite): void {
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w')
  let complete = false
  try {
    writeAll(fd, data, tmp, write)
    fsyncSync(fd)
    complete = true
  } finally {
    closeSync(fd)
    // A partial temporary file is of no use to anyone; the good file at `path` stays as it was.
    if (!complete) rmSync(tmp, { force: true })
  }
  renameSync(tmp, path)
  fsyncDir(dirname(path))
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
