/**
 * Crash at every write point (WAL appends, privval saves, block and state store saves):
 * node 0 runs on files with a fault hook that kills it at its Nth write (a clean crash or a
 * torn write), is reopened from the same files, and must (a) start, (b) never have signed two
 * conflicting votes or proposals, (c) not go back below the height it had committed, and
 * (d) commit again, in agreement with the others.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WalCorruptError } from '../../src/consensus/errors.ts'
import { crashAtWrite, type FaultHook, noFaults } from '../../src/consensus/faults.ts'
import type { Signer } from '../../src/consensus/keys.ts'
import type { ConsensusMessage } from '../../src/consensus/messages.ts'
import type { NodeComponents } from '../../src/consensus/node-io.ts'
import { FileLastSignedStore, PrivValidator } from '../../src/consensus/privval.ts'
import { FileBlockStore, FileStateStore } from '../../src/consensus/stores.ts'
import { FileWal } from '../../src/consensus/wal.ts'
import { assertNoConflictingSignatures, Cluster, type ComponentsFactory } from './helpers/cluster.ts'

function onFiles(dir: string, signer: Signer, faults: FaultHook, wals: FileWal[] = []): ComponentsFactory {
  return (d: NodeComponents) => ({
    ...d,
    privval: new PrivValidator(signer, new FileLastSignedStore(join(dir, 'privval.state'), faults)),
    wal: ((w) => {
      wals.push(w)
      return w
    })(new FileWal({ dir: join(dir, 'wal'), faults })),
    blockStore: new FileBlockStore(join(dir, 'blocks'), faults),
    stateStore: new FileStateStore(join(dir, 'state.bin'), faults),
  })
}

const TARGET_HEIGHT = 3

/**
 * 'crash' kills the process at a write; 'tear' leaves half of that write on disk; 'powerloss'
 * also loses every WAL byte not yet fsynced (what a machine crash does to the page cache);
 * 'walloss' loses the whole WAL (an operator wiped it): then only the privval's last-signed
 * state stands between the node and a double signature.
 */
type CrashKind = 'crash' | 'tear' | 'powerloss' | 'walloss'
const HARSHER: readonly CrashKind[] = ['tear', 'powerloss', 'walloss']

function runWithCrash(writeToCrashAt: number, kind: CrashKind): { crashed: boolean; writes: number } {
  const dir = mkdtempSync(join(tmpdir(), 'r3mes-crash-'))
  try {
    const cluster = new Cluster(4, 1000)
    const signer = cluster.chain.signerByIndex[0] as Signer
    const hook = crashAtWrite(writeToCrashAt, kind === 'tear' ? 'tear' : 'crash')
    const wals: FileWal[] = []
    for (let i = 1; i < 4; i++) cluster.open(i)
    const first = cluster.open(0, onFiles(dir, signer, hook, wals))
    const ctx = `crash at write #${writeToCrashAt} (${kind})`
    cluster.runUntil(30_000, () => first.crashed !== undefined || cluster.height(0) >= TARGET_HEIGHT)
    const crashed = first.crashed !== undefined
    if (crashed) {
      assert.match(
        String(first.crashed),
        /injected fault/,
        `${ctx}: crashed for another reason: ${String(first.crashed)}`,
      )
      const committedBefore = Math.max(0, ...(cluster.commits[0] as Map<number, string>).keys())
      cluster.kill(0)
      const wal = wals[0] as FileWal
      if (kind === 'powerloss') truncateSync(wal.durable.path, wal.durable.bytes)
      wal.close()
      if (kind === 'walloss') rmSync(join(dir, 'wal'), { recursive: true })
      cluster.runUntil(cluster.clock.monotonicMs() + 300)
      const reopened = cluster.open(0, onFiles(dir, signer, noFaults))
      assert.equal(reopened.crashed, undefined, `${ctx}: restart failed: ${String(reopened.crashed)}`)
      assert.ok(cluster.height(0) >= committedBefore, `${ctx}: committed height went back from ${committedBefore}`)
      const goal = Math.max(TARGET_HEIGHT, committedBefore) + 2
      cluster.runUntil(cluster.clock.monotonicMs() + 60_000, () => cluster.height(0) >= goal)
      assert.equal(reopened.crashed, undefined, `${ctx}: failed after restart: ${String(reopened.crashed)}`)
      assert.ok(
        cluster.height(0) >= goal,
        `${ctx}: no progress after restart (height ${cluster.height(0)}, others ${[1, 2, 3].map((i) => cluster.height(i))}, round ${reopened.state.round} ${reopened.state.step}, blocks stored ${reopened.io.components.blockStore.height()}, app ${reopened.io.components.app.info().height})`,
      )
    }
    assertNoConflictingSignatures(cluster.sent[0] as ConsensusMessage[], 0)
    cluster.assertAgreement()
    for (let i = 0; i < 4; i++) cluster.kill(i)
    return { crashed, writes: hook.writes() }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('a node on a damaged WAL', () => {
  it('refuses to start, with WalCorruptError naming the file and offset', () => {
    const dir = mkdtempSync(join(tmpdir(), 'r3mes-corrupt-'))
    try {
      const cluster = new Cluster(4, 5)
      const signer = cluster.chain.signerByIndex[0] as Signer
      for (let i = 1; i < 4; i++) cluster.open(i)
      const wals: FileWal[] = []
      cluster.open(0, onFiles(dir, signer, noFaults, wals))
      // Stop mid-height, once the current segment holds a few records.
      const segmentBytes = (): number => {
        const w = wals[wals.length - 1]
        return w === undefined ? 0 : (statSync(w.durable.path, { throwIfNoEntry: false })?.size ?? 0)
      }
      cluster.runUntil(30_000, () => cluster.height(0) >= 2 && segmentBytes() > 300)
      cluster.kill(0)
      const { path } = (wals[0] as FileWal).durable
      ;(wals[0] as FileWal).close()
      const data = readFileSync(path)
      assert.ok(data.length > 200, 'the current segment holds several records')
      const firstLength = data.readUInt32BE(0)
      data[8 + Math.floor(firstLength / 2)] = (data[8 + Math.floor(firstLength / 2)] as number) ^ 0xff
      writeFileSync(path, data)
      assert.throws(
        () => cluster.open(0, onFiles(dir, signer, noFaults)),
        (e: unknown) => e instanceof WalCorruptError && e.offset === 0 && e.message.includes(path),
      )
      for (let i = 1; i < 4; i++) cluster.kill(i)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('a persistent application one block ahead of the state store', () => {
  it('is adopted at restart, not re-executed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'r3mes-app-ahead-'))
    try {
      const cluster = new Cluster(4, 11)
      const signer = cluster.chain.signerByIndex[0] as Signer
      for (let i = 1; i < 4; i++) cluster.open(i)
      // Crash at the second tip save: block 2 is stored and executed, the tip still says height 2.
      let saves = 0
      const hook: FaultHook = (site) => (site === 'statestore.save' && ++saves === 2 ? 'crash' : 'proceed')
      let app: NodeComponents['app'] | undefined
      const keepApp = (faults: FaultHook) => (d: NodeComponents) => {
        app ??= d.app
        return onFiles(dir, signer, faults)({ ...d, app })
      }
      const first = cluster.open(0, keepApp(hook))
      cluster.runUntil(30_000, () => first.crashed !== undefined)
      assert.match(String(first.crashed), /statestore.save/)
      assert.equal(app?.info().height, 2)
      cluster.kill(0)
      const reopened = cluster.open(0, keepApp(noFaults))
      assert.equal(reopened.crashed, undefined)
      assert.equal(cluster.height(0), 2, 'the tip follows the application')
      cluster.runUntil(cluster.clock.monotonicMs() + 30_000, () => cluster.height(0) >= 5)
      assert.ok(cluster.height(0) >= 5)
      cluster.assertAgreement()
      for (let i = 0; i < 4; i++) cluster.kill(i)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('crash at every write point, then restart from disk', function () {
  this.timeout(170_000)
  it('survives a crash at every write until height 3, and at each also a torn write, a power loss or a lost WAL (in turn)', () => {
    // A run that never crashes tells how many writes there are to crash at.
    const total = runWithCrash(Number.MAX_SAFE_INTEGER, 'crash').writes
    assert.ok(total > 30, `expected many write points, got ${total}`)
    let crashes = 0
    for (let n = 1; n <= total; n++) {
      if (runWithCrash(n, 'crash').crashed) crashes++
      runWithCrash(n, HARSHER[n % HARSHER.length] as CrashKind)
    }
    assert.ok(crashes >= total - 5, `crashed at ${crashes} of ${total} write points`)
  })
})
