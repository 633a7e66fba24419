/**
 * Fuzzing what a node reads back from its own disk: the state file (decodeTip, through
 * FileStateStore), block files (FileBlockStore) and WAL segments (FileWal). A damaged or
 * hostile file stops the node with the store's typed error (StoreCorruptError,
 * WalCorruptError), never a TypeError from deep inside a restart.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { encode } from '../../src/consensus/codec.ts'
import type { Tip } from '../../src/consensus/core-types.ts'
import { StoreCorruptError, WalCorruptError } from '../../src/consensus/errors.ts'
import { genesisTip } from '../../src/consensus/genesis.ts'
import { encodeInput } from '../../src/consensus/input-codec.ts'
import { decodeTip, encodeTip, FileBlockStore, FileStateStore, seal as sealed } from '../../src/consensus/stores.ts'
import { encodeWalRecord, FileWal } from '../../src/consensus/wal.ts'
import { encodeCommittedBlock } from '../../src/consensus/wire.ts'
import { makeChain } from '../consensus/helpers/fixtures.ts'
import { concat, fuzzParams, hostileBytes, onlyTyped } from './helpers/bytes.ts'
import { bytesOf, commit, committedBlock, height, input } from './helpers/consensus-arbitraries.ts'

const chains = [1, 2, 4].map((n) => makeChain(n))

/** A tip as a running node stores it: real validator sets, advanced by a few increments. */
const tip: fc.Arbitrary<Tip> = fc
  .record({
    chain: fc.constantFrom(...chains),
    steps: fc.nat({ max: 5 }),
    height,
    lastBlockHash: bytesOf(32),
    lastBlockTimeMs: fc.nat(),
    appHash: bytesOf(32),
    lastCommit: fc.option(commit, { nil: null }),
    evidence: fc.array(fc.tuple(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 16 }), fc.nat()), {
      maxLength: 3,
    }),
    hasLast: fc.boolean(),
  })
  .map((g) => {
    const base = genesisTip(g.chain.genesis, g.appHash)
    const validators = base.validators.incrementProposerPriority(g.steps + 1)
    return {
      ...base,
      height: g.height,
      validators,
      nextValidators: validators.incrementProposerPriority(1),
      lastValidators: g.hasLast ? base.validators : null,
      lastBlockHash: g.lastBlockHash,
      lastBlockTimeMs: g.lastBlockTimeMs,
      lastCommit: g.lastCommit,
      committedEvidence: new Map(g.evidence),
    }
  })

describe('fuzz: consensus stores on disk', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-fuzz-store-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  describe('state file (decodeTip)', () => {
    it('raises only StoreCorruptError on hostile payloads', () => {
      fc.assert(
        fc.property(hostileBytes(tip.map(encodeTip)), (payload) => {
          onlyTyped(() => decodeTip(payload), StoreCorruptError)
        }),
        fuzzParams(),
      )
    })

    it('raises only StoreCorruptError when FileStateStore loads a hostile file, sealed or not', () => {
      const path = join(dir, 'state')
      const store = new FileStateStore(path)
      fc.assert(
        fc.property(hostileBytes(tip.map(encodeTip)), fc.boolean(), (payload, seal) => {
          writeFileSync(path, seal ? sealed(payload) : payload)
          onlyTyped(() => store.load(), StoreCorruptError)
        }),
        fuzzParams({ numRuns: 150 }),
      )
    })

    it('decodes every stored tip to itself', () => {
      fc.assert(
        fc.property(tip, (t) => {
          const decoded = decodeTip(encodeTip(t))
          assert.deepStrictEqual(encodeTip(decoded), encodeTip(t))
          assert.equal(decoded.validators.proposer.address.join(), t.validators.proposer.address.join())
          assert.deepStrictEqual(decoded.committedEvidence, t.committedEvidence)
          assert.deepStrictEqual(decoded.lastCommit, t.lastCommit)
        }),
        fuzzParams(),
      )
    })

    it('refuses state files that decoded to garbage or threw untyped errors', () => {
      // Found by the fuzzer: decodeTip let msgpackr's Error and the validator set's
      // InvalidArgumentError escape, and took any value as height, power or time.
      const { validators } = genesisTip(chains[1]?.genesis ?? assert.fail(), new Uint8Array(32))
      const member = [validators.validators[0]?.publicKey, 10, 0]
      const set = [[member], validators.validators[0]?.address]
      const good = [1, set, new Uint8Array(32), 0, new Uint8Array(32), null, [], set, null, new Uint8Array(32)]
      assert.doesNotThrow(() => decodeTip(encode(good)))
      const withField = (i: number, v: unknown): Uint8Array => encode(good.map((x, j) => (j === i ? v : x)))
      const bad = [
        new Uint8Array([1, 2, 3]),
        new Uint8Array([0xc1]),
        encode(5),
        withField(0, -1),
        withField(0, 'one'),
        withField(1, [[member], new Uint8Array(20)]),
        withField(1, [[[member[0], -10, 0]], set[1]]),
        withField(1, [[[member[0], 10, 0.5]], set[1]]),
        withField(1, [[[new Uint8Array(3), 10, 0]], set[1]]),
        withField(1, [[5], set[1]]),
        withField(3, -5),
        withField(4, new Uint8Array(3)),
        withField(5, [1]),
        withField(6, 5),
        withField(6, [[1, 2]]),
        withField(9, new Uint8Array(31)),
        withField(9, null),
      ]
      for (const payload of bad) assert.throws(() => decodeTip(payload), StoreCorruptError)
    })
  })

  describe('block files (FileBlockStore)', () => {
    it('raises only StoreCorruptError when a block file holds hostile bytes, sealed or not', () => {
      fc.assert(
        fc.property(hostileBytes(committedBlock.map(encodeCommittedBlock)), fc.boolean(), (payload, seal) => {
          writeFileSync(join(dir, `${'1'.padStart(12, '0')}.block`), seal ? sealed(payload) : payload)
          onlyTyped(() => new FileBlockStore(dir).load(1), StoreCorruptError)
        }),
        fuzzParams({ numRuns: 150 }),
      )
    })

    it('refuses a sealed block file that does not decode with StoreCorruptError', () => {
      writeFileSync(join(dir, `${'1'.padStart(12, '0')}.block`), sealed(encode(['not', 'a', 'block'])))
      assert.throws(() => new FileBlockStore(dir).load(1), StoreCorruptError)
    })
  })

  describe('WAL segments (FileWal.readFrom)', () => {
    /** A segment of valid records, damaged; or valid framing around hostile payloads. */
    const segment = fc.oneof(
      hostileBytes(
        fc
          .array(input, { minLength: 1, maxLength: 4 })
          .map((is) => concat(...is.map((i) => encodeWalRecord(encodeInput(i))))),
      ),
      fc
        .array(hostileBytes(input.map(encodeInput), 64), { minLength: 1, maxLength: 3 })
        .map((ps) => concat(...ps.map(encodeWalRecord))),
    )

    it('reads a segment of whole records back as the inputs written', () => {
      fc.assert(
        fc.property(fc.array(input, { minLength: 1, maxLength: 4 }), (inputs) => {
          rmSync(dir, { recursive: true, force: true })
          const walDir = join(dir, 'wal')
          const wal = new FileWal({ dir: walDir })
          writeFileSync(join(walDir, '000000000001.wal'), concat(...inputs.map((i) => encodeWalRecord(encodeInput(i)))))
          assert.deepStrictEqual(
            wal.readFrom(1).map((i) => encodeInput(i)),
            inputs.map((i) => encodeInput(i)),
          )
          wal.close()
        }),
        fuzzParams({ numRuns: 100 }),
      )
    })

    it('raises only WalCorruptError on a hostile last or closed segment', () => {
      fc.assert(
        fc.property(segment, fc.boolean(), (bytes, closed) => {
          rmSync(dir, { recursive: true, force: true })
          const walDir = join(dir, 'wal')
          const wal = new FileWal({ dir: walDir })
          writeFileSync(join(walDir, '000000000001.wal'), bytes)
          if (closed) writeFileSync(join(walDir, '000000000002.wal'), new Uint8Array(0))
          onlyTyped(() => wal.readFrom(1), WalCorruptError)
          wal.close()
        }),
        fuzzParams({ numRuns: 150 }),
      )
    })
  })
})
