/**
 * The main job end to end, as a user runs it: `r3mes testnet` on the embedded default topology
 * and `r3mes chaos` on two scenarios, each a network of one `r3mes node` process per node on
 * loopback. Slow (minutes each); the figures they print are the ones README quotes.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Run, runR3mes } from './helpers/r3mes-process.ts'

function r3mes(args: readonly string[], timeoutMs: number): Promise<Run> {
  return runR3mes(args, { timeoutMs })
}

interface Report {
  readonly finished: boolean
  readonly windows: number
  readonly lossPerWindow: readonly { loss: number }[]
  readonly lossDrop: { first: number; last: number; drop: number } | null
  readonly submissions: {
    total: number
    accepted: number
    flagged: number
    flaggedCopied: number
    flaggedMismatch: number
    slashed: number
  }
  readonly honestSlashed: number
  readonly cheatersSlashed: number
  readonly cheaters: readonly string[]
  readonly sharding: { saving: number }
  readonly invariants?: readonly { name: string; ok: boolean; detail: string }[]
}

describe('r3mes testnet and r3mes chaos (one process per node on loopback)', function () {
  this.timeout(12 * 60_000)
  let root = ''
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-testnet-'))
  })
  after(async () => {
    if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  async function run(args: readonly string[], name: string): Promise<Report> {
    const json = join(root, `${name}.json`)
    const r = await r3mes([...args, '--json', json, '--dir', join(root, name)], 11 * 60_000)
    assert.equal(r.code, 0, `${args.join(' ')} exited ${r.code}\n${r.out}\n${r.err.slice(-4000)}`)
    return JSON.parse(await readFile(json, 'utf8')) as Report
  }

  it('the default testnet trains three windows: the model moves, held-out loss falls, nobody is slashed', async () => {
    const r = await run(['testnet'], 'default')
    assert.equal(r.finished, true)
    assert.ok(r.windows >= 3, `windows trained: ${r.windows}`)
    const losses = r.lossPerWindow.map((l) => l.loss)
    assert.ok(losses.length >= 2, `loss measured ${losses.length} times`)
    // Training lowers held-out loss; one window's aggregate can raise it again (the last of
    // three windows ended at 2.1683 against 2.1685 on 28fc41a, and at 2.1762 in one run here),
    // so the check is that the loss fell below where it started, at some window.
    assert.ok(Math.min(...losses.slice(1)) < (losses[0] as number), `held-out loss ${losses.join(' → ')}`)
    // The report states the drop over the run: first evaluation against last.
    assert.deepEqual(
      [r.lossDrop?.first, r.lossDrop?.last],
      [losses[0], losses.at(-1)],
      `loss drop ${JSON.stringify(r.lossDrop)}`,
    )
    assert.ok(r.submissions.accepted > 0)
    // Bit-exact training: replicas of a task never disagree.
    assert.equal(r.submissions.flaggedMismatch, 0, 'honest replicas agree (L1)')
    // A replica whose commit lands after its partner revealed is flagged as a copy (the chain
    // cannot tell it from one); miners wait for each other's commits, so on two loaded cores
    // this stays rare.
    assert.ok(
      r.submissions.flaggedCopied <= Math.floor(r.submissions.total / 8),
      `${r.submissions.flaggedCopied} of ${r.submissions.total} honest submissions flagged as copies`,
    )
    assert.equal(r.honestSlashed, 0)
    assert.ok(r.sharding.saving > 0, 'miners fetched only their layers')
  })

  it('chaos: a wrong gradient is slashed through L2 and L3 and a copied CID is never paid', async () => {
    const r = await run(['chaos', 'topology/chaos/cheating-miners.yaml'], 'cheating-miners')
    const failed = (r.invariants ?? []).filter((i) => !i.ok)
    assert.deepEqual(failed, [], 'every invariant holds')
    assert.ok((r.invariants ?? []).length >= 7)
    assert.ok(r.cheatersSlashed >= 1, 'the wrong-gradient miner was slashed')
    assert.equal(r.honestSlashed, 0)
  })

  it('chaos: validators split 2|2 and healed; the chain agrees and recovers', async () => {
    const r = await run(['chaos', 'topology/chaos/partition-validators.yaml'], 'partition-validators')
    const failed = (r.invariants ?? []).filter((i) => !i.ok)
    assert.deepEqual(failed, [], 'every invariant holds')
    const names = (r.invariants ?? []).map((i) => i.name)
    for (const name of ['agreement', 'app hashes', 'conservation', 'recovery']) assert.ok(names.includes(name), name)
  })
})
