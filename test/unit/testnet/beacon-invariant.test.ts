import assert from 'node:assert/strict'
import { type KeyPair, testKey } from '../../../src/chain/keys.ts'
import { fromHex, toHex } from '../../../src/codec/bytes.ts'
import { sha256 } from '../../../src/codec/hash.ts'
import { vrfProve } from '../../../src/codec/vrf.ts'
import { beaconAlpha, beaconFromProof } from '../../../src/consensus/beacon.ts'
import { type BeaconEntry, checkBeacons } from '../../../src/testnet/invariants.ts'

const genesis = sha256(new TextEncoder().encode('genesis'))
const validators = [0, 1, 2, 3].map((i) => testKey(`validator-${i}`))

/** The consensus key of each validator when its keys are split. */
const consensusKeys = validators.map((v, i) => ({ account: v, consensus: testKey(`validator-${i}/consensus`) }))

/** An honest chain of `n` beacons, proposers in turn (signing with their consensus keys when `split`). */
function chain(n: number, split = false): BeaconEntry[] {
  const out: BeaconEntry[] = []
  let previous = genesis
  for (let height = 1; height <= n; height++) {
    const k = consensusKeys[height % validators.length] as (typeof consensusKeys)[number]
    const signer = split ? k.consensus : k.account
    const proof = vrfProve(signer.secretKey, beaconAlpha(previous))
    const beacon = beaconFromProof(previous, proof) as Uint8Array
    out.push({
      height,
      proposer: k.account.address,
      beacon: toHex(beacon),
      vrfProof: toHex(proof),
      proposerKey: toHex(signer.publicKey),
    })
    previous = beacon
  }
  return out
}

const nodes = (...histories: BeaconEntry[][]) => new Map(histories.map((h, i) => [`validator-${i}`, h]))

describe('testnet/invariants: beacons', () => {
  it('passes an honest chain, served by several nodes, each block checked once', () => {
    const r = checkBeacons(nodes(chain(12), chain(12), chain(10)), genesis, 10)
    assert.ok(r.ok, r.detail)
    assert.match(r.detail, /12 committed blocks up to height 12/)
  })

  it('passes a node restarted from a snapshot (its history starts later), and still fails a gap inside a history', () => {
    const full = chain(12)
    const restarted = full.filter((e) => e.height > 8)
    const r = checkBeacons(nodes(full, restarted), genesis, 12)
    assert.ok(r.ok, r.detail)
    const gap = checkBeacons(nodes(full.filter((e) => e.height !== 5)), genesis, 1)
    assert.equal(gap.ok, false)
    assert.match(gap.detail, /height 6: the previous block's beacon is not served/)
  })

  it('fails a block whose beacon was chosen, proved by another key, or claimed for another proposer', () => {
    const honest = chain(6)
    const at3 = honest[2] as BeaconEntry
    const grinder = validators[(at3.height + 1) % 4] as KeyPair
    const variants: [string, BeaconEntry][] = [
      ['a chosen beacon', { ...at3, beacon: toHex(sha256(new Uint8Array([1]))) }],
      [
        'another key’s proof',
        { ...at3, vrfProof: toHex(vrfProve(grinder.secretKey, beaconAlpha(new Uint8Array(32)))) },
      ],
      ['another proposer named', { ...at3, proposer: grinder.address }],
      ['a proof that does not decode', { ...at3, vrfProof: 'ff'.repeat(80) }],
    ]
    for (const [what, bad] of variants) {
      const r = checkBeacons(nodes(honest.map((e) => (e.height === 3 ? bad : e))), genesis, 1)
      assert.equal(r.ok, false, what)
      assert.match(r.detail, /height 3/, what)
    }
    // A wrong genesis beacon breaks height 1.
    const r = checkBeacons(nodes(honest), sha256(genesis), 1)
    assert.equal(r.ok, false)
    assert.match(r.detail, /height 1 /)
  })

  it("checks a proposer with a separate consensus key against that key, and no other staker's", () => {
    const keysOf = new Map(consensusKeys.map((k) => [k.account.address, toHex(k.consensus.publicKey)]))
    const split = chain(6, true)
    const ok = checkBeacons(nodes(split), genesis, 6, keysOf)
    assert.ok(ok.ok, ok.detail)
    assert.equal(checkBeacons(nodes(split), genesis, 6).ok, false, 'without the map the key is not the proposer’s')
    // Height 3's proposer named with height 4's proposer's consensus key (and a proof by it).
    const at3 = split[2] as BeaconEntry
    const other = consensusKeys[(at3.height + 1) % 4] as (typeof consensusKeys)[number]
    const proof = vrfProve(other.consensus.secretKey, beaconAlpha(fromHex(split[1]?.beacon) as Uint8Array))
    const stolen: BeaconEntry = {
      ...at3,
      proposerKey: toHex(other.consensus.publicKey),
      vrfProof: toHex(proof),
      beacon: toHex(beaconFromProof(fromHex(split[1]?.beacon) as Uint8Array, proof) as Uint8Array),
    }
    const r = checkBeacons(nodes(split.map((e) => (e.height === 3 ? stolen : e))), genesis, 1, keysOf)
    assert.equal(r.ok, false)
    assert.match(r.detail, /height 3/)
  })

  it('fails a chain that made no progress', () => {
    const r = checkBeacons(nodes(chain(3)), genesis, 20)
    assert.equal(r.ok, false)
    assert.match(r.detail, /no progress: 3 heights/)
  })
})
