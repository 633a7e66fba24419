import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConsensusInput } from '../../src/consensus/core-types.ts'
import { WalCorruptError } from '../../src/consensus/errors.ts'
import { crashAtWrite } from '../../src/consensus/faults.ts'
import { encodeInput } from '../../src/consensus/input-codec.ts'
import { FileWal, MemoryWal, WAL_HEADER_BYTES } from '../../src/consensus/wal.ts'

const inputs: ConsensusInput[] = [
  { type: 'start' },
  { type: 'timeout', kind: 'propose', height: 1, round: 0 },
  {
    type: 'blockApplied',
    height: 1,
    appHash: new Uint8Array(32).fill(7),
    validatorUpdates: [{ publicKey: new Uint8Array(32).fill(3), power: 5 }],
  },
  { type: 'timeout', kind: 'prevote', height: 1, round: 3 },
]

describe('FileWal', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-wal-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  function segment(): string {
    const [file] = readdirSync(dir).filter((f) => f.endsWith('.wal'))
    return join(dir, file as string)
  }

  it('replays what was appended, in order, across segments', () => {
    const wal = new FileWal({ dir })
    wal.startHeight(1)
    for (const i of inputs.slice(0, 3)) wal.append(i, false)
    wal.startHeight(2)
    wal.append(inputs[3] as ConsensusInput, true)
    wal.close()
    assert.deepEqual(new FileWal({ dir }).readFrom(1), inputs)
    assert.deepEqual(new FileWal({ dir }).readFrom(2), inputs.slice(3))
  })

  it('repairs a torn last record by cutting it off', () => {
    const wal = new FileWal({ dir, faults: crashAtWrite(3, 'tear') })
    wal.startHeight(1)
    wal.append(inputs[0] as ConsensusInput, false)
    wal.append(inputs[1] as ConsensusInput, false)
    assert.throws(() => wal.append(inputs[2] as ConsensusInput, true), /injected fault/)
    wal.close()
    const sizeTorn = statSync(segment()).size
    const reopened = new FileWal({ dir })
    assert.deepEqual(reopened.readFrom(1), inputs.slice(0, 2))
    assert.ok(statSync(segment()).size < sizeTorn, 'the torn bytes are gone')
    reopened.startHeight(1)
    reopened.append(inputs[3] as ConsensusInput, true)
    assert.deepEqual(new FileWal({ dir }).readFrom(1), [inputs[0], inputs[1], inputs[3]])
  })

  it('treats a bad checksum on the final record as a torn write', () => {
    const wal = new FileWal({ dir })
    wal.startHeight(1)
    for (const i of inputs) wal.append(i, false)
    wal.close()
    const data = readFileSync(segment())
    data[data.length - 1] = (data[data.length - 1] as number) ^ 0xff
    writeFileSync(segment(), data)
    assert.deepEqual(new FileWal({ dir }).readFrom(1), inputs.slice(0, 3))
  })

  it('refuses to start on corruption before the last record, naming the offset', () => {
    const wal = new FileWal({ dir })
    wal.startHeight(1)
    for (const i of inputs) wal.append(i, false)
    wal.close()
    const data = readFileSync(segment())
    const firstLen = data.readUInt32BE(0)
    const secondOffset = WAL_HEADER_BYTES + firstLen
    data[secondOffset + WAL_HEADER_BYTES] = (data[secondOffset + WAL_HEADER_BYTES] as number) ^ 0x55
    writeFileSync(segment(), data)
    assert.throws(
      () => new FileWal({ dir }).readFrom(1),
      (e: unknown) =>
        e instanceof WalCorruptError &&
        e.code === 'ERR_CONSENSUS_WAL_CORRUPT' &&
        e.offset === secondOffset &&
        e.message.includes(`offset ${secondOffset}`),
    )
  })

  it('refuses a truncated record in a closed (not last) segment', () => {
    const wal = new FileWal({ dir })
    wal.startHeight(1)
    wal.append(inputs[0] as ConsensusInput, false)
    wal.startHeight(2)
    wal.append(inputs[1] as ConsensusInput, false)
    wal.close()
    appendFileSync(join(dir, '000000000001.wal'), new Uint8Array([0, 0, 0, 9, 1]))
    assert.throws(() => new FileWal({ dir }).readFrom(1), WalCorruptError)
  })
})

describe('MemoryWal', () => {
  it('counts each input as its encoding, with one vote or proposal object appended many times at different arrival times', () => {
    const vote = {
      type: 'prevote' as const,
      height: 1,
      round: 0,
      blockHash: new Uint8Array(32).fill(1),
      validatorIndex: 2,
      signature: new Uint8Array(64).fill(9),
    }
    const block = {
      header: {
        chainId: 'wal-test',
        height: 1,
        timeMs: 1_767_225_601_000,
        previousBlockHash: new Uint8Array(32),
        txsRoot: new Uint8Array(32),
        evidenceRoot: new Uint8Array(32),
        lastCommitHash: new Uint8Array(32),
        appHash: new Uint8Array(32),
        proposer: new Uint8Array(20),
        vrfProof: new Uint8Array(80),
        beacon: new Uint8Array(64),
      },
      txs: [new Uint8Array(300).fill(4), new Uint8Array(70_000).fill(5)],
      evidence: [],
      lastCommit: null,
    }
    const proposal = { height: 1, round: 0, polRound: -1, blockHash: new Uint8Array(32), signature: new Uint8Array(64) }
    const appended: ConsensusInput[] = [
      { type: 'vote', vote },
      { type: 'vote', vote },
      ...[undefined, 0, 127, 128, 65_535, 2 ** 32 - 1, 2 ** 32, 1_767_225_601_234].map(
        (receivedMs): ConsensusInput =>
          receivedMs === undefined
            ? { type: 'proposal', proposal, block }
            : { type: 'proposal', proposal, block, receivedMs },
      ),
      ...inputs,
    ]
    const wal = new MemoryWal()
    wal.startHeight(1)
    let expected = 0
    for (const input of appended) {
      wal.append(input)
      expected += WAL_HEADER_BYTES + encodeInput(input).byteLength
      assert.equal(wal.segmentBytes, expected, input.type)
    }
  })
})
