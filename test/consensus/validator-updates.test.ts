import assert from 'node:assert/strict'
import { createActor } from 'xstate'
import { bytesEqual, toHex } from '../../src/codec/bytes.ts'
import { hashBlock } from '../../src/consensus/block.ts'
import { consensusMachine } from '../../src/consensus/consensus-actor.ts'
import { addressOf, type Signer, signerFromSeed, verifySignature } from '../../src/consensus/keys.ts'
import { MemoryHub } from '../../src/consensus/memory-transport.ts'
import { voteSignBytes } from '../../src/consensus/signing.ts'
import type { Block, Commit } from '../../src/consensus/types.ts'
import { ValidatorSet } from '../../src/consensus/validator-set.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
import { makeChain, memoryComponents, seedFor } from './helpers/fixtures.ts'

async function settle(): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve))
}

function signedBy(publicKey: Uint8Array, commit: Commit | null): boolean {
  if (commit === null) return false
  return commit.signatures.some((s) =>
    verifySignature(
      publicKey,
      voteSignBytes('r3mes-test', { type: 'precommit', ...commit, validatorIndex: s.validatorIndex }),
      s.signature,
    ),
  )
}

describe('validator-set changes', function () {
  this.timeout(60_000)

  it('applyUpdates adds, removes and re-weights; a newcomer queues behind; bad updates are refused by name', () => {
    const chain = makeChain(3)
    const newcomer = signerFromSeed(seedFor('newcomer'))
    const [a, b] = chain.signerByIndex as [Signer, Signer]
    const next = chain.validators.applyUpdates([
      { publicKey: newcomer.publicKey, power: 40 },
      { publicKey: a.publicKey, power: 0 },
      { publicKey: b.publicKey, power: 25 },
    ])
    assert.equal(next.size, 3)
    assert.equal(next.totalPower, 40 + 25 + 10)
    assert.ok(next.validators.every((v) => !bytesEqual(v.publicKey, a.publicKey)))
    const joined = next.validators.find((v) => bytesEqual(v.publicKey, newcomer.publicKey))
    assert.equal(joined?.priority, -(75 + Math.floor(75 / 8)))
    // The heaviest validator does not propose the moment it joins.
    assert.ok(!bytesEqual(next.incrementProposerPriority(1).proposer.publicKey, newcomer.publicKey))
    assert.throws(() => chain.validators.applyUpdates([{ publicKey: newcomer.publicKey, power: 0 }]), /non-member/)
    assert.throws(
      () =>
        chain.validators.applyUpdates([
          { publicKey: a.publicKey, power: 1 },
          { publicKey: a.publicKey, power: 2 },
        ]),
      /twice/,
    )
    assert.throws(() => chain.validators.applyUpdates([{ publicKey: a.publicKey, power: -1 }]), /non-negative/)
    assert.throws(
      () => chain.validators.applyUpdates(chain.signerByIndex.map((s) => ({ publicKey: s.publicKey, power: 0 }))),
      /empty/,
    )
    assert.equal(chain.validators.applyUpdates([]), chain.validators)
    assert.ok(ValidatorSet.create([{ publicKey: a.publicKey, power: 1 }]).size === 1)
  })

  it('over the in-memory hub: a validator added by a transaction joins at H+2 and signs commits; a removed one stops signing at H+2', async () => {
    const chain = makeChain(4)
    const joiner = signerFromSeed(seedFor('r3mes-test/joiner'))
    const clock = new SimulatedClock()
    const hub = new MemoryHub(clock, 5)
    const blocks = Array.from({ length: 5 }, () => new Map<number, Block>())
    const removed = chain.signerByIndex[2] as (typeof chain.signerByIndex)[number]
    // Nodes 0-3: the genesis validators; node 4 follows from the start with a key of its own.
    const actors = [0, 1, 2, 3, 4].map((i) => {
      const link = hub.connect(`v${i}`)
      const { components } = memoryComponents(
        chain,
        i,
        clock,
        link,
        (cb) => blocks[i]?.set(cb.block.header.height, cb.block),
        i === 4 ? joiner : undefined,
      )
      return createActor(consensusMachine, { input: { components, inbox: link, gossipIntervalMs: 100 } }).start()
    })
    const run = async (until: () => boolean): Promise<void> => {
      for (let i = 0; i < 4000 && !until(); i++) {
        clock.advance(5)
        await settle()
      }
    }
    const tx = (text: string) => new TextEncoder().encode(text)
    await run(() => (blocks[0]?.size ?? 0) >= 2)
    actors[1]?.send({ type: 'tx', tx: tx(`val:${toHex(joiner.publicKey)}=10`) })
    const heightOf = (text: string): number | undefined =>
      [...(blocks[0] ?? [])].find(([, b]) => b.txs.some((t) => bytesEqual(t, tx(text))))?.[0]
    const joinText = `val:${toHex(joiner.publicKey)}=10`
    await run(() => heightOf(joinText) !== undefined)
    const joinHeight = heightOf(joinText) as number
    await run(() => (blocks[0]?.size ?? 0) >= joinHeight + 4)
    const removeText = `val:${toHex(removed.publicKey)}=0`
    actors[0]?.send({ type: 'tx', tx: tx(removeText) })
    await run(() => heightOf(removeText) !== undefined)
    const removeHeight = heightOf(removeText) as number
    await run(() => Math.min(...blocks.map((m) => m.size)) >= removeHeight + 6)

    const top = Math.min(...blocks.map((m) => m.size))
    assert.ok(top >= removeHeight + 6, `heights ${blocks.map((m) => m.size)}`)
    for (let h = 1; h <= top; h++)
      assert.equal(new Set(blocks.map((m) => toHex(hashBlock(m.get(h) as Block)))).size, 1, `agreement at ${h}`)
    // Block h + 1 carries the commit of height h.
    const commitOf = (h: number) => (blocks[0] as Map<number, Block>).get(h + 1)?.lastCommit ?? null
    for (let h = 1; h < joinHeight + 2; h++) assert.ok(!signedBy(joiner.publicKey, commitOf(h)), `joiner signed ${h}`)
    const joinerSigned = [...Array(top - 1).keys()]
      .map((i) => i + 1)
      .filter((h) => signedBy(joiner.publicKey, commitOf(h)))
    assert.ok(joinerSigned.length > 0, 'the joiner signs commits once it is a member')
    for (let h = removeHeight + 2; h < top; h++)
      assert.ok(!signedBy(removed.publicKey, commitOf(h)), `removed validator signed ${h}`)
    assert.ok(
      [...Array(removeHeight + 1).keys()].slice(1).some((h) => signedBy(removed.publicKey, commitOf(h))),
      'the removed validator signed commits while it was a member',
    )
    // The engine's state agrees: the set of the current height holds the joiner, not the removed one.
    const snapshot = actors[0]?.getSnapshot().context.core
    assert.ok(snapshot !== null && snapshot !== undefined)
    const members = snapshot.tip.validators.validators.map((v) => toHex(v.publicKey))
    assert.ok(members.includes(toHex(joiner.publicKey)) && !members.includes(toHex(removed.publicKey)))
    const joinerIndex = snapshot.tip.validators.indexOf(addressOf(joiner.publicKey))
    assert.ok(joinerIndex >= 0)
    assert.equal(actors[4]?.getSnapshot().context.core?.myIndex, joinerIndex)
    for (const a of actors) a.stop()
  })
})
