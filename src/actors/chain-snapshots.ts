/**
 * Chain-state snapshots on disk, so a restart starts from a recent height instead of
 * re-executing every block from genesis.
 *
 * One file per height, `<dir>/<height>`, written like every consensus store file (CRC-32 then
 * the payload, replaced atomically, see consensus/stores.ts): the chain state's bytes
 * (chain/snapshot.ts), the app hash after that height, and the consensus sets the chain
 * application tracked then. The newest SNAPSHOTS_KEPT are kept, so a damaged newest one still
 * leaves one to fall back to.
 *
 * A snapshot is used only once the state it decodes hashes to the app hash the chain
 * committed for its height (the next block's header, or the stored tip); anything else is
 * logged and the next older snapshot is tried, then genesis.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { decode, encode } from '../consensus/codec.ts'
import { StoreCorruptError } from '../consensus/errors.ts'
import { type BlockStore, type StateStore, seal, unseal } from '../consensus/stores.ts'
import type { GenesisValidator } from '../consensus/validator-set.ts'
import { fsyncDir, writeFileDurable } from '../runtime/durable-file.ts'
import { R3mesError } from '../runtime/errors.ts'
import type { Logger } from '../runtime/logger.ts'
import type { ChainApplication } from './chain-application.ts'

/** Snapshots kept on disk: the newest and one to fall back to. */
export const SNAPSHOTS_KEPT = 2

const SNAPSHOT_FILE_FORMAT = 1

export interface Snapshot {
  readonly height: number
  /** The app hash after `height`: what the chain committed in the header of `height + 1`. */
  readonly appHash: Uint8Array
  /** The chain state (chain/snapshot.ts). */
  readonly state: Uint8Array
  /** The consensus sets of heights `height + 1` and `height + 2` (ChainApplication.snapshotSets). */
  readonly sets: [GenesisValidator[], GenesisValidator[]]
}

export class SnapshotStore {
  readonly dir: string
  readonly #keep: number

  constructor(dir: string, keep = SNAPSHOTS_KEPT) {
    this.dir = dir
    this.#keep = keep
    mkdirSync(dir, { recursive: true })
  }

  /** Heights of the snapshots on disk, lowest first. */
  heights(): number[] {
    return readdirSync(this.dir)
      .filter((name) => /^[1-9][0-9]*$/.test(name))
      .map(Number)
      .filter(Number.isSafeInteger)
      .sort((a, b) => a - b)
  }

  /** Write a snapshot, then delete all but the newest kept; returns the bytes written. */
  save(snapshot: Snapshot): number {
    const members = (set: GenesisValidator[]) => set.map((v) => [v.publicKey, v.power])
    const bytes = seal(
      encode([
        SNAPSHOT_FILE_FORMAT,
        snapshot.height,
        snapshot.appHash,
        snapshot.state,
        members(snapshot.sets[0]),
        members(snapshot.sets[1]),
      ]),
    )
    writeFileDurable(join(this.dir, String(snapshot.height)), bytes)
    const heights = this.heights()
    const stale = heights.slice(0, Math.max(0, heights.length - this.#keep))
    for (const h of stale) rmSync(join(this.dir, String(h)), { force: true })
    if (stale.length > 0) fsyncDir(this.dir)
    return bytes.byteLength
  }

  /** The snapshot of `height`; a damaged or malformed file is a StoreCorruptError naming it. */
  load(height: number): Snapshot {
    const path = join(this.dir, String(height))
    const malformed = (what: string): never => {
      throw new StoreCorruptError(`snapshot ${path} is malformed: ${what}`, { path })
    }
    let a: unknown
    try {
      a = decode(unseal(path))
    } catch (error) {
      if (error instanceof StoreCorruptError) throw error
      throw new StoreCorruptError(`snapshot ${path} is not msgpack`, { path, cause: (error as Error).message })
    }
    if (!Array.isArray(a) || a.length !== 6) return malformed('not a snapshot record')
    if (a[0] !== SNAPSHOT_FILE_FORMAT)
      return malformed(`format ${String(a[0])}, this node reads ${SNAPSHOT_FILE_FORMAT}`)
    if (a[1] !== height) return malformed(`it names height ${String(a[1])}`)
    const bytes = (x: unknown, what: string): Uint8Array =>
      x instanceof Uint8Array ? new Uint8Array(x) : malformed(what)
    const set = (x: unknown, what: string): GenesisValidator[] =>
      (Array.isArray(x) ? x : malformed(what)).map((v: unknown) => {
        if (!Array.isArray(v) || v.length !== 2 || typeof v[1] !== 'number') return malformed(what)
        return { publicKey: bytes(v[0], what), power: v[1] }
      })
    return {
      height,
      appHash: bytes(a[2], 'app hash'),
      state: bytes(a[3], 'state'),
      sets: [set(a[4], 'validator set'), set(a[5], 'next validator set')],
    }
  }
}

export interface RestoreComponents {
  readonly app: ChainApplication
  readonly snapshots: SnapshotStore
  readonly blockStore: BlockStore
  readonly stateStore: StateStore
  readonly logger: Logger
}

/**
 * Bring `app` to the newest snapshot it can trust, before the consensus handshake replays the
 * blocks after it: a snapshot of a committed height (at most the stored tip's last block)
 * whose state hashes to the app hash the chain committed for it. Returns the height restored,
 * 0 when the node starts from genesis (no tip yet, no snapshot, or none that checks out).
 */
export function restoreNewestSnapshot(c: RestoreComponents): number {
  const tip = c.stateStore.load()
  if (tip === undefined) return 0
  const lastCommitted = tip.height - 1
  for (const height of c.snapshots.heights().reverse()) {
    // A snapshot past the stored tip was written just before a crash; the blocks replay it.
    if (height > lastCommitted) continue
    const committed = height === lastCommitted ? tip.appHash : c.blockStore.load(height + 1)?.block.header.appHash
    if (committed === undefined) {
      c.logger.warn({ height }, 'snapshot skipped: the block that commits its app hash is not stored')
      continue
    }
    try {
      const snapshot = c.snapshots.load(height)
      c.app.restore(snapshot.state, committed, snapshot.sets)
      c.logger.info({ height, stateBytes: snapshot.state.byteLength }, 'chain state restored from a snapshot')
      return height
    } catch (error) {
      if (!(error instanceof R3mesError)) throw error
      c.logger.error({ err: error, height }, 'snapshot refused; trying an older one')
    }
  }
  return 0
}
