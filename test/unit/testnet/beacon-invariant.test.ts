import assert from 'node:assert/strict'
import { type KeyPair, testKey } from '../../../src/chain/keys.ts'
import { toHex } from '../../../src/codec/bytes.ts'
import { sha256 } from '../../../src/codec/hash.ts'
import { vrfProve } from '../../../src/codec/vrf.ts'
import { beaconAlpha, beaconFromProof } from '../../../src/consensus/beacon.ts'
import { type BeaconEntry, checkBeacons } from '../../../src/testnet/invariants.ts'

const genesis = sha256(new TextEncoder().encode('genesis'))
const validators = [0, 1, 2, 3].map((i) => testKey(`validator-${i}`))

/** An honest chain of `n` beacons, proposers in turn. */
function chain(n: number): BeaconEntry[] {
  const out: BeaconEntry[] = []
  let previous = genesis
  for (let height = 1; height <= n; height++) {
    const v = validators[height % validators.length] as KeyPair
    const proof = vrfProve(v.secretKey, beaconAlpha(previous))
    const beacon = beaconFromProof(previous, proof) as Uint8Array
    out.push({
      height,
      proposer: v.address,
      beacon: toHex(beacon),
      vrfProof: toHex(proof),
      proposerKey: toHex(v.publicKey),
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

  it('fails a chain that made no progress', () => {
    const r = checkBeacons(nodes(chain(3)), genesis, 20)
    assert.equal(r.ok, false)
    assert.match(r.detail, /no progress: 3 heights/)
  })
})
