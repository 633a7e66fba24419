import assert from 'node:assert/strict'
import { bytesEqual, toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { vrfProofToHash, vrfVerify } from '../../src/codec/vrf.ts'
import {
  BEACON_SIZE_BYTES,
  beaconAlpha,
  beaconFault,
  beaconFromProof,
  genesisBeacon,
  nextBeacon,
} from '../../src/consensus/beacon.ts'
import { type ChainTip, hashBlock, makeBlock, validateBlock } from '../../src/consensus/block.ts'
import { initialState, step } from '../../src/consensus/core.ts'
import type { ConsensusEffect, ConsensusInput, ConsensusState } from '../../src/consensus/core-types.ts'
import { InvalidConsensusDataError } from '../../src/consensus/errors.ts'
import { genesisTip } from '../../src/consensus/genesis.ts'
import type { Signer } from '../../src/consensus/keys.ts'
import { MemoryLastSignedStore, PrivValidator } from '../../src/consensus/privval.ts'
import { proposalSignBytes } from '../../src/consensus/signing.ts'
import type { Block } from '../../src/consensus/types.ts'
import { beaconFields, makeChain, makeConfig } from './helpers/fixtures.ts'

const chain = makeChain(4)
const chainId = chain.genesis.chainId
const vals = chain.validators
const appHash = sha256()
const genesis = genesisBeacon(chain.genesis, appHash)
const proposer0 = vals.proposerForRound(0)

function tip(): ChainTip {
  return {
    chainId,
    height: 1,
    previousBlockHash: new Uint8Array(32),
    previousTimeMs: chain.genesis.genesisTimeMs,
    previousBeacon: genesis,
    appHash,
    validators: vals,
    lastValidators: null,
    committedEvidence: new Set<string>(),
    maxBlockBytes: 1 << 20,
    maxEvidenceAgeHeights: 100,
  }
}

function block(beacon: { vrfProof: Uint8Array; beacon: Uint8Array }, proposer = proposer0.address): Block {
  return makeBlock({
    chainId,
    height: 1,
    timeMs: chain.genesis.genesisTimeMs + 1000,
    previousBlockHash: new Uint8Array(32),
    appHash,
    proposer,
    ...beacon,
    txs: [],
    evidence: [],
    lastCommit: null,
  })
}

const refusal = (why: RegExp) => (e: unknown) => e instanceof InvalidConsensusDataError && why.test(e.message)

describe('consensus/beacon: the VRF beacon in every block header', () => {
  it('the genesis beacon is fixed by the genesis: another chain id, validator set or app hash gives another', () => {
    assert.equal(genesis.byteLength, BEACON_SIZE_BYTES)
    assert.ok(bytesEqual(genesis, genesisBeacon(chain.genesis, appHash)))
    const others = [
      genesisBeacon({ ...chain.genesis, chainId: 'another' }, appHash),
      genesisBeacon(makeChain(5).genesis, appHash),
      genesisBeacon(chain.genesis, sha256(new Uint8Array([1]))),
      genesisBeacon({ ...chain.genesis, genesisTimeMs: chain.genesis.genesisTimeMs + 1 }, appHash),
    ]
    assert.equal(new Set([genesis, ...others].map(toHex)).size, 5)
    assert.ok(bytesEqual(genesisTip(chain.genesis, appHash).lastBeacon, genesis), 'height 1 proves over it')
  })

  it('a beacon is SHA-256 of the tag, the previous beacon and the VRF output over the previous beacon', () => {
    const signer = chain.signerByIndex[0] as Signer
    const proof = signer.proveVrf(beaconAlpha(genesis))
    const output = vrfVerify(signer.publicKey, beaconAlpha(genesis), proof)
    assert.ok(output !== undefined)
    assert.ok(bytesEqual(output, vrfProofToHash(proof) as Uint8Array))
    const beacon = nextBeacon(genesis, output)
    assert.ok(bytesEqual(beaconFromProof(genesis, proof) as Uint8Array, beacon))
    assert.ok(bytesEqual(beacon, sha256(new TextEncoder().encode('r3mes/beacon/1\0'), genesis, output)))
    assert.equal(beaconFault(signer.publicKey, genesis, proof, beacon), undefined)
    assert.equal(beaconFromProof(genesis, new Uint8Array(80).fill(0xff)), undefined, 'a proof that does not decode')
  })

  it('a proposer cannot choose: each key has one output per previous beacon, two keys give two', () => {
    const outputs = chain.signerByIndex.map((s) =>
      toHex(beaconFromProof(genesis, s.proveVrf(beaconAlpha(genesis))) ?? new Uint8Array()),
    )
    assert.equal(new Set(outputs).size, 4, 'four proposers, four beacons')
    const signer = chain.signerByIndex[1] as Signer
    const privval = new PrivValidator(signer, new MemoryLastSignedStore())
    const first = privval.proveBeacon(genesis)
    assert.ok(bytesEqual(first, privval.proveBeacon(genesis)), 'the same proposer always gets the same proof')
    assert.ok(bytesEqual(first, signer.proveVrf(beaconAlpha(genesis))))
    assert.ok(!bytesEqual(first, privval.proveBeacon(sha256(genesis))), 'another previous beacon, another proof')
  })

  it('validateBlock accepts the derived beacon and refuses a forged one, another key’s proof, or a proof over another beacon', () => {
    const honest = beaconFields(chain, proposer0.address)
    validateBlock(tip(), block(honest))
    // The beacon a grinder would like, with its own (valid) proof beside it.
    const chosen = sha256(new TextEncoder().encode('the draw I want'))
    assert.throws(
      () => validateBlock(tip(), block({ ...honest, beacon: chosen })),
      refusal(/beacon is not the one derived/),
    )
    // A proof of its own making beside the beacon it chose.
    const junk = new Uint8Array(80).fill(7)
    assert.throws(
      () => validateBlock(tip(), block({ vrfProof: junk, beacon: chosen })),
      refusal(/VRF proof does not verify under the proposer's key/),
    )
    // Another validator's honest proof is not this proposer's.
    const other = vals.validators.find((v) => !bytesEqual(v.address, proposer0.address))?.address as Uint8Array
    assert.throws(
      () => validateBlock(tip(), block(beaconFields(chain, other))),
      refusal(/VRF proof does not verify under the proposer's key/),
    )
    // The proposer's own proof, but over a beacon it picked instead of the previous one.
    assert.throws(
      () => validateBlock(tip(), block(beaconFields(chain, proposer0.address, chosen))),
      refusal(/VRF proof does not verify under the proposer's key/),
    )
  })

  it('an honest validator prevotes for the honest proposal and nil for one whose beacon was forged', () => {
    const proposerIndex = vals.indexOf(proposer0.address)
    const me = proposerIndex === 0 ? 1 : 0
    const propose = (b: Block): ConsensusInput => {
      const unsigned = { height: 1, round: 0, polRound: -1, blockHash: hashBlock(b) }
      const signature = (chain.signerByIndex[proposerIndex] as Signer).sign(proposalSignBytes(chainId, unsigned))
      return { type: 'proposal', proposal: { ...unsigned, signature }, block: b }
    }
    const prevote = (b: Block): Uint8Array | null | undefined => {
      let state: ConsensusState = initialState(makeConfig(chain, me), genesisTip(chain.genesis, appHash))
      const effects: ConsensusEffect[] = []
      for (const input of [{ type: 'start' } as const, propose(b)]) {
        const r = step(state, input)
        state = r.state
        effects.push(...r.effects)
      }
      const e = effects.find((x) => x.type === 'signVote')
      return e?.type === 'signVote' ? e.vote.blockHash : undefined
    }
    const honest = block(beaconFields(chain, proposer0.address))
    assert.equal(toHex(prevote(honest) ?? new Uint8Array()), toHex(hashBlock(honest)))
    const forged = block({ vrfProof: new Uint8Array(80).fill(7), beacon: sha256(new Uint8Array([9])) })
    assert.equal(prevote(forged), null)
  })

  it('the proposer’s own block carries the beacon its privval proves, checked like anyone else’s', () => {
    const proposerIndex = vals.indexOf(proposer0.address)
    let r = step(initialState(makeConfig(chain, proposerIndex), genesisTip(chain.genesis, appHash)), { type: 'start' })
    const request = r.effects.find((e) => e.type === 'requestProposalContent')
    assert.ok(request?.type === 'requestProposalContent')
    assert.ok(bytesEqual(request.previousBeacon, genesis))
    const privval = new PrivValidator(chain.signerByIndex[proposerIndex] as Signer, new MemoryLastSignedStore())
    r = step(r.state, {
      type: 'proposalContent',
      height: 1,
      round: 0,
      timeMs: chain.genesis.genesisTimeMs + 5,
      txs: [],
      evidence: [],
      vrfProof: privval.proveBeacon(request.previousBeacon),
    })
    const signed = r.effects.find((e) => e.type === 'signProposal')
    assert.ok(signed?.type === 'signProposal')
    assert.ok(bytesEqual(signed.block.header.beacon, beaconFields(chain, proposer0.address).beacon))
    validateBlock(tip(), signed.block)
  })
})
