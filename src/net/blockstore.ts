/**
 * The node's on-disk blockstore: blockstore-fs, reading each block in one piece.
 *
 * blockstore-fs streams a block from its file in 64 KiB pieces, and its consumers in helia
 * (bitswap answering a want, the graph walker behind pinning) gather those pieces with
 * it-to-buffer, which copies everything gathered so far on every piece: 8.5 MiB copied to
 * read one 1 MiB chunk. Serving content spent most of its time there. Blocks are small
 * enough (2 MiB at most, bitswap's own limit) to read whole, in one system call.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { AbortOptions } from '@libp2p/interface'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast } from 'blockstore-fs/sharding'
import { NotFoundError } from 'interface-store'
import type { CID } from 'multiformats/cid'

export class WholeBlockFsBlockstore extends FsBlockstore {
  readonly #sharding: NextToLast

  constructor(location: string) {
    // The default layout of blockstore-fs, named here so get() finds the files put() wrote.
    const sharding = new NextToLast()
    super(location, { shardingStrategy: sharding })
    this.#sharding = sharding
  }

  override async *get(key: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    const { dir, file } = this.#sharding.encode(key)
    let bytes: Uint8Array
    try {
      bytes = await readFile(join(this.path, dir, file), { signal: options?.signal })
    } catch (error) {
      throw new NotFoundError(String(error))
    }
    yield bytes
  }
}
