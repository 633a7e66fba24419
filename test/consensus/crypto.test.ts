import assert from 'node:assert/strict'
import { ed25519 } from '@noble/curves/ed25519.js'
import { toHex } from '../../src/codec/bytes.ts'
import { ed25519VerifyIsMemoized } from '../../src/codec/ed25519.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { merkleRoot } from '../../src/codec/merkle.ts'
import { hashHeader, makeBlock } from '../../src/consensus/block.ts'
import { decode, encode } from '../../src/consensus/codec.ts'
import { signerFromSeed, verifySignature } from '../../src/consensus/keys.ts'
import { MemoryLastSignedStore, PrivValidator } from '../../src/consensus/privval.ts'
import {
  proposalSignBytes,
  verifyCommit,
  verifyProposal,
  verifyVote,
  voteSignBytes,
} from '../../src/consensus/signing.ts'
import type { Commit, Vote } from '../../src/consensus/types.ts'
import { voteFromArray, voteToArray } from '../../src/consensus/wire.ts'
import { makeChain, seedFor } from './helpers/fixtures.ts'

describe('consensus crypto and encoding', () => {
  it('node:crypto ed25519 keys are @noble/curves keys: same public key, signatures verify both ways', () => {
    const seed = seedFor('compat')
    const signer = signerFromSeed(seed)
    assert.equal(toHex(signer.publicKey), toHex(ed25519.getPublicKey(seed)))
    const msg: Uint8Array = new TextEncoder().encode('r3mes vote bytes')
    const ours = signer.sign(msg)
    assert.ok(ed25519.verify(ours, msg, signer.publicKey), 'noble verifies a node:crypto signature')
    // ed25519 is deterministic (RFC 8032): both libraries produce the same bytes.
    assert.equal(toHex(ours), toHex(ed25519.sign(msg, seed)))
    const theirs = ed25519.sign(msg, seed)
    assert.ok(verifySignature(signer.publicKey, msg, theirs), 'node:crypto verifies a noble signature')
    const tampered = Uint8Array.from(msg)
    tampered[0] = (tampered[0] as number) ^ 1
    assert.ok(!verifySignature(signer.publicKey, tampered, ours), 'a changed message fails')
    assert.ok(!verifySignature(signer.publicKey, msg, new Uint8Array(63)), 'a short signature fails')
  })

  it('RFC 8032 test vector 1 (empty message)', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')
    const s = signerFromSeed(seed)
    assert.equal(toHex(s.publicKey), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
    assert.equal(
      toHex(s.sign(new Uint8Array())),
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    )
  })

  it('canonical encoding: equal values give equal bytes, and round-trip', () => {
    const v: Vote = {
      type: 'precommit',
      height: 7,
      round: 2,
      blockHash: sha256(new Uint8Array([1])),
      validatorIndex: 3,
      signature: new Uint8Array(64).fill(9),
    }
    const a = encode(voteToArray(v))
    const b = encode(voteToArray({ ...v }))
    assert.equal(toHex(a), toHex(b))
    assert.deepEqual(voteFromArray(decode(a)), v)
    assert.throws(() => voteFromArray(decode(encode([1, 2, 3]))), /malformed vote/)
  })

  it('sign bytes separate chains, vote types and messages', () => {
    const base = { type: 'prevote' as const, height: 1, round: 0, blockHash: null, validatorIndex: 0 }
    const x = toHex(voteSignBytes('a', base))
    assert.notEqual(x, toHex(voteSignBytes('b', base)))
    assert.notEqual(x, toHex(voteSignBytes('a', { ...base, type: 'precommit' })))
    assert.notEqual(
      x,
      toHex(proposalSignBytes('a', { height: 1, round: 0, polRound: -1, blockHash: new Uint8Array(32) })),
    )
  })

  it('a vote verifies only under its validator and chain', () => {
    const chain = makeChain(4)
    const unsigned = { type: 'prevote' as const, height: 1, round: 0, blockHash: null, validatorIndex: 1 }
    const vote = {
      ...unsigned,
      signature: chain.signerByIndex[1]?.sign(voteSignBytes('r3mes-test', unsigned)) as Uint8Array,
    }
    assert.ok(verifyVote('r3mes-test', chain.validators, vote))
    assert.ok(!verifyVote('other-chain', chain.validators, vote))
    assert.ok(!verifyVote('r3mes-test', chain.validators, { ...vote, validatorIndex: 2 }))
    assert.ok(!verifyVote('r3mes-test', chain.validators, { ...vote, validatorIndex: 99 }))
    // The verdict remembered for this vote object holds for its chain id and key only.
    const otherKeys = makeChain(4, undefined, 'r3mes-test-other-keys').validators
    assert.ok(!verifyVote('r3mes-test', otherKeys, vote))
    assert.ok(verifyVote('r3mes-test', chain.validators, vote))
  })

  it("a privval's own fresh votes and proposals are taken unverified; a stored signature handed back is checked", () => {
    const chain = makeChain(4)
    const signer = chain.signerByIndex[2] as (typeof chain.signerByIndex)[number]
    const store = new MemoryLastSignedStore()
    const privval = new PrivValidator(signer, store)
    const unsigned = { type: 'precommit' as const, height: 5, round: 0, blockHash: sha256('b'), validatorIndex: 2 }
    const vote = privval.signVote('r3mes-test', unsigned)
    assert.ok(verifyVote('r3mes-test', chain.validators, vote))
    const signBytes = voteSignBytes('r3mes-test', unsigned)
    assert.ok(!ed25519VerifyIsMemoized(signer.publicKey, signBytes, vote.signature), 'no verification ran')
    // Only for its own key and chain: another copy, chain or key is checked as any vote is.
    assert.ok(!verifyVote('other-chain', chain.validators, vote))
    assert.ok(!verifyVote('r3mes-test', chain.validators, { ...vote, validatorIndex: 1 }))
    // After a restart the same vote comes back from the store: that signature is verified.
    const again = new PrivValidator(signer, store).signVote('r3mes-test', unsigned)
    assert.ok(verifyVote('r3mes-test', chain.validators, again))
    assert.ok(ed25519VerifyIsMemoized(signer.publicKey, signBytes, again.signature), 'the stored one was verified')

    const proposer = chain.validators.proposerForRound(0)
    const proposerSigner = chain.signerByIndex[chain.validators.indexOf(proposer.address)] as typeof signer
    const unsignedProposal = { height: 6, round: 0, polRound: -1, blockHash: sha256('p') }
    const proposal = new PrivValidator(proposerSigner, new MemoryLastSignedStore()).signProposal(
      'r3mes-test',
      unsignedProposal,
    )
    assert.ok(verifyProposal('r3mes-test', chain.validators, proposal))
    const proposalBytes = proposalSignBytes('r3mes-test', unsignedProposal)
    assert.ok(!ed25519VerifyIsMemoized(proposer.publicKey, proposalBytes, proposal.signature), 'no verification ran')
    assert.ok(!verifyProposal('other-chain', chain.validators, proposal))
  })

  it("a commit's signatures found in the node's own commit are not verified again; any other is", () => {
    const chain = makeChain(4)
    const blockHash = sha256('decided')
    const sig = (i: number, round = 0) =>
      chain.signerByIndex[i]?.sign(
        voteSignBytes('r3mes-test', { type: 'precommit', height: 3, round, blockHash, validatorIndex: i }),
      ) as Uint8Array
    const commit: Commit = {
      height: 3,
      round: 0,
      blockHash,
      signatures: [0, 1, 2].map((i) => ({ validatorIndex: i, signature: sig(i) })),
    }
    verifyCommit('r3mes-test', chain.validators, 3, blockHash, commit, commit)
    const signBytesOf = (i: number) =>
      voteSignBytes('r3mes-test', { type: 'precommit', height: 3, round: 0, blockHash, validatorIndex: i })
    for (const i of [0, 1, 2])
      assert.ok(!ed25519VerifyIsMemoized(chain.signerByIndex[i]?.publicKey as Uint8Array, signBytesOf(i), sig(i)))
    // A signature not in the known commit (another validator, or other bytes) is verified, and a bad one refused.
    const wider: Commit = { ...commit, signatures: [...commit.signatures, { validatorIndex: 3, signature: sig(3) }] }
    verifyCommit('r3mes-test', chain.validators, 3, blockHash, wider, commit)
    assert.ok(ed25519VerifyIsMemoized(chain.signerByIndex[3]?.publicKey as Uint8Array, signBytesOf(3), sig(3)))
    const forged: Commit = {
      ...commit,
      signatures: [{ validatorIndex: 0, signature: sig(1) }, ...commit.signatures.slice(1)],
    }
    assert.throws(() => verifyCommit('r3mes-test', chain.validators, 3, blockHash, forged, commit), /bad signature/)
    // A known commit of another round or block vouches for nothing.
    const otherRound: Commit = { ...commit, round: 1 }
    assert.throws(() => verifyCommit('r3mes-test', chain.validators, 3, blockHash, otherRound, commit), /bad signature/)
    const otherBlock: Commit = { ...commit, blockHash: sha256('other') }
    assert.throws(
      () => verifyCommit('r3mes-test', chain.validators, 3, sha256('other'), otherBlock, commit),
      /bad signature/,
    )
  })

  it('a header hash is remembered per header object, and each caller gets its own copy', () => {
    const block = makeBlock({
      chainId: 'r3mes-test',
      height: 1,
      timeMs: 1,
      previousBlockHash: new Uint8Array(32),
      appHash: new Uint8Array(32),
      proposer: new Uint8Array(20),
      vrfProof: new Uint8Array(80),
      beacon: new Uint8Array(32),
      txs: [],
      evidence: [],
      lastCommit: null,
    })
    const first = hashHeader(block.header)
    const expected = toHex(first)
    first.fill(0)
    assert.equal(toHex(hashHeader(block.header)), expected)
    assert.notEqual(toHex(hashHeader({ ...block.header, height: 2 })), expected)
  })

  it('Merkle root: leaf/node separation, order matters', () => {
    const t = (s: string) => new TextEncoder().encode(s)
    assert.equal(toHex(merkleRoot([])), toHex(sha256()))
    assert.notEqual(toHex(merkleRoot([t('a'), t('b')])), toHex(merkleRoot([t('b'), t('a')])))
    assert.notEqual(toHex(merkleRoot([t('a')])), toHex(sha256(t('a'))))
    assert.equal(merkleRoot([t('a'), t('b'), t('c')]).byteLength, 32)
  })
})
