/**
 * A staker's three keys on chain: the account key (its transactions), the consensus key (its
 * votes) and the peer id (its node). A stake by transaction starts with the account key's;
 * `register` names others with proofs of possession; no two stakers share one; a validator's
 * keys are locked; the validator set and equivocation evidence go by the consensus key.
 */
import assert from 'node:assert/strict'
import type { BlockOutcome } from '../../src/chain/app.ts'
import { TxCode, TxRejected } from '../../src/chain/errors.ts'
import { encodeEvidence, signEvidenceVote } from '../../src/chain/evidence.ts'
import { signKeyProof } from '../../src/chain/key-proofs.ts'
import { type KeyPair, peerIdOfKey, testKey } from '../../src/chain/keys.ts'
import type { Role } from '../../src/chain/params.ts'
import type { Staker } from '../../src/chain/state.ts'
import { decodeTx, encodeTx, type Msg } from '../../src/chain/tx.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256 } from '../../src/codec/hash.ts'
import { Harness, keys } from './harness.ts'

const validators = keys('val', 4)
const [alice, bob, carol] = keys('user', 3) as [KeyPair, KeyPair, KeyPair]
const net = (): Harness => new Harness({ validators, funded: [alice, bob, carol] })

/** The keys of one operator's node besides its account key. */
function nodeKeys(label: string): { consensus: KeyPair; peer: KeyPair } {
  return { consensus: testKey(`${label}/consensus`), peer: testKey(`${label}/net`) }
}

/** A `register` naming `consensus` and `peer` for `account`, with proofs by those keys (or by `signers`). */
function registerMsg(
  h: Harness,
  account: KeyPair,
  roles: readonly Role[],
  named: { consensus?: KeyPair; peer?: KeyPair },
  over: { chainId?: string; address?: string; consensusSigner?: KeyPair; peerSigner?: KeyPair } = {},
): Msg {
  const chainId = over.chainId ?? h.genesis.chainId
  const address = over.address ?? account.address
  return {
    type: 'register',
    roles,
    subnet: null,
    ...(named.consensus === undefined
      ? {}
      : {
          consensusKey: toHex(named.consensus.publicKey),
          consensusKeyProof: signKeyProof(
            'consensus',
            (over.consensusSigner ?? named.consensus).secretKey,
            chainId,
            address,
          ),
        }),
    ...(named.peer === undefined
      ? {}
      : {
          peerId: peerIdOfKey(named.peer.publicKey),
          peerIdProof: signKeyProof('peer', (over.peerSigner ?? named.peer).secretKey, chainId, address),
        }),
  }
}

const stakerOf = (h: Harness, k: KeyPair): Staker => h.app.state.stakers.get(k.address) as Staker

/** Run one block with `txs` and return its whole outcome (validator updates included). */
function blockOutcome(h: Harness, txs: Uint8Array[], evidence: Uint8Array[] = []): BlockOutcome {
  const height = h.height + 1
  return h.app.executeBlock({
    height,
    timeMs: height * 1000,
    proposer: h.proposer,
    hash: h.blockHash(height),
    beacon: h.beacon(height),
    txs,
    evidence,
  })
}

describe('chain: a staker names its consensus key and peer id', () => {
  it('a stake by transaction starts with the account key as consensus key and peer id', () => {
    const h = net()
    h.ok(alice, { type: 'stake', amount: h.params.minStakeVerifier })
    const s = stakerOf(h, alice)
    assert.equal(s.consensusKey, toHex(alice.publicKey))
    assert.equal(s.peerId, peerIdOfKey(alice.publicKey))
    const g = stakerOf(h, validators[0] as KeyPair)
    assert.equal(g.consensusKey, toHex((validators[0] as KeyPair).publicKey), 'genesis stakers keep theirs')
  })

  it('registers a validator with split keys: the validator update and the queries carry the consensus key', () => {
    const h = net()
    const { consensus, peer } = nodeKeys('alice')
    h.ok(alice, { type: 'stake', amount: h.params.minStakeValidator * 2n })
    const outcome = blockOutcome(h, [h.tx(alice, registerMsg(h, alice, ['validator'], { consensus, peer }))])
    assert.deepEqual(
      outcome.results.map((r) => r.code),
      ['OK'],
    )
    const update = outcome.validatorUpdates.find((u) => u.address === alice.address)
    assert.ok(update !== undefined, 'the new validator is reported to consensus')
    assert.equal(update.consensusKey, toHex(consensus.publicKey))
    assert.notEqual(update.consensusKey, toHex(alice.publicKey))
    const s = h.app.query(`staker/${alice.address}`) as { pubKey: string; consensusKey: string; peerId: string }
    assert.deepEqual(
      { pubKey: s.pubKey, consensusKey: s.consensusKey, peerId: s.peerId },
      {
        pubKey: toHex(alice.publicKey),
        consensusKey: toHex(consensus.publicKey),
        peerId: peerIdOfKey(peer.publicKey),
      },
    )
    const listed = (h.app.query('validators') as { address: string; consensusKey: string; peerId: string }[]).find(
      (v) => v.address === alice.address,
    )
    assert.equal(listed?.consensusKey, toHex(consensus.publicKey))
    assert.equal(listed?.peerId, peerIdOfKey(peer.publicKey))
  })

  it('refuses a proof that does not verify: another key, another address, another chain, another kind', () => {
    const h = net()
    const { consensus, peer } = nodeKeys('alice')
    h.ok(alice, { type: 'stake', amount: h.params.minStakeValidator })
    const bad: [string, Msg][] = [
      [
        'consensus proof by another key',
        registerMsg(h, alice, ['verifier'], { consensus }, { consensusSigner: alice }),
      ],
      [
        'consensus proof for another address',
        registerMsg(h, alice, ['verifier'], { consensus }, { address: bob.address }),
      ],
      ['consensus proof for another chain', registerMsg(h, alice, ['verifier'], { consensus }, { chainId: 'other' })],
      ['peer proof by another key', registerMsg(h, alice, ['verifier'], { peer }, { peerSigner: consensus })],
      ['peer proof for another address', registerMsg(h, alice, ['verifier'], { peer }, { address: bob.address })],
    ]
    // A consensus-key proof does not pass as a peer-id proof of the same key.
    const crossKind = registerMsg(h, alice, ['verifier'], { peer: consensus }) as Extract<Msg, { type: 'register' }>
    bad.push([
      'consensus proof as peer proof',
      { ...crossKind, peerIdProof: signKeyProof('consensus', consensus.secretKey, h.genesis.chainId, alice.address) },
    ])
    for (const [what, msg] of bad) {
      const r = h.one(alice, msg)
      assert.equal(r.code, TxCode.badKeyProof, `${what}: ${r.log}`)
    }
    assert.equal(stakerOf(h, alice).consensusKey, toHex(alice.publicKey), 'nothing changed')
    assert.deepEqual(stakerOf(h, alice).roles, [])
  })

  it('refuses a consensus key or peer id another staker uses', () => {
    const h = net()
    const { consensus, peer } = nodeKeys('shared')
    h.ok(alice, { type: 'stake', amount: h.params.minStakeVerifier })
    h.ok(bob, { type: 'stake', amount: h.params.minStakeVerifier })
    h.ok(alice, registerMsg(h, alice, ['verifier'], { consensus, peer }))
    const dupConsensus = h.one(bob, registerMsg(h, bob, ['verifier'], { consensus }))
    assert.equal(dupConsensus.code, TxCode.keyInUse, dupConsensus.log)
    assert.match(dupConsensus.log, new RegExp(alice.address))
    assert.equal(h.one(bob, registerMsg(h, bob, ['verifier'], { peer })).code, TxCode.keyInUse)
    // A genesis validator's account key is its consensus key and its peer's: taken twice over.
    const v = validators[1] as KeyPair
    assert.equal(h.one(bob, registerMsg(h, bob, ['verifier'], { consensus: v })).code, TxCode.keyInUse)
    assert.equal(h.one(bob, registerMsg(h, bob, ['verifier'], { peer: v })).code, TxCode.keyInUse)
    // An account whose key another staker named cannot stake with that key as its own.
    const h2 = net()
    h2.ok(alice, { type: 'stake', amount: h2.params.minStakeVerifier })
    h2.ok(alice, registerMsg(h2, alice, ['verifier'], { consensus: carol }))
    assert.equal(h2.one(carol, { type: 'stake', amount: h2.params.minStakeVerifier }).code, TxCode.keyInUse)
    // Naming again the keys one already has is no conflict.
    h.ok(alice, registerMsg(h, alice, ['arbiter', 'verifier'], { consensus, peer }))
  })

  it("locks a validator's keys: its consensus key for good, its peer id while it validates", () => {
    const h = net()
    const v = validators[2] as KeyPair
    const fresh = nodeKeys('rotated')
    const locked = h.one(v, registerMsg(h, v, ['validator'], { consensus: fresh.consensus }))
    assert.equal(locked.code, TxCode.keyLocked, locked.log)
    assert.equal(h.one(v, registerMsg(h, v, ['validator'], { peer: fresh.peer })).code, TxCode.keyLocked)
    // Once it stops validating its node may move to a new peer id, but its consensus key stays:
    // evidence of the votes it signed must still verify.
    h.ok(v, { type: 'register', roles: ['verifier'], subnet: null })
    h.ok(v, registerMsg(h, v, ['verifier'], { peer: fresh.peer }))
    assert.equal(stakerOf(h, v).peerId, peerIdOfKey(fresh.peer.publicKey))
    assert.equal(h.one(v, registerMsg(h, v, ['verifier'], { consensus: fresh.consensus })).code, TxCode.keyLocked)
    assert.equal(stakerOf(h, v).consensusKey, toHex(v.publicKey))
    // A staker that never validated may change both, as often as it likes, before it does.
    h.ok(alice, { type: 'stake', amount: h.params.minStakeValidator * 2n })
    h.ok(alice, registerMsg(h, alice, ['verifier'], nodeKeys('first')))
    h.ok(alice, registerMsg(h, alice, ['validator'], nodeKeys('second')))
    assert.equal(stakerOf(h, alice).consensusKey, toHex(nodeKeys('second').consensus.publicKey))
  })

  it('evidence signed by a consensus key slashes the staker that named it, not one signed by its account key', () => {
    const h = net()
    const { consensus } = nodeKeys('alice')
    h.ok(alice, { type: 'stake', amount: h.params.minStakeValidator * 2n })
    h.ok(alice, registerMsg(h, alice, ['validator'], { consensus }))
    h.run(2)
    // Two prevotes of one height and round for different values: an equivocation.
    const equivocation = (signer: KeyPair, height: number): Uint8Array =>
      encodeEvidence({
        validator: alice.address,
        height,
        round: 0,
        voteA: signEvidenceVote(signer, h.genesis.chainId, height, 0, {
          type: 'prevote',
          blockHash: toHex(sha256('a')),
        }),
        voteB: signEvidenceVote(signer, h.genesis.chainId, height, 0, { type: 'prevote', blockHash: null }),
      })
    const stake0 = h.stake(alice.address)
    h.block([], [equivocation(alice, h.height)])
    assert.equal((h.app.query('evidence/last') as { code: string }[])[0]?.code, TxCode.badEvidence)
    assert.equal(h.stake(alice.address), stake0, 'the account key signs no votes: nothing slashed')
    const outcome = blockOutcome(h, [], [equivocation(consensus, h.height)])
    assert.equal((h.app.query('evidence/last') as { code: string }[])[0]?.code, TxCode.ok)
    assert.equal(
      h.stake(alice.address),
      stake0 - (stake0 * BigInt(h.params.equivocationSlashBps)) / 10_000n,
      'slashed by its share',
    )
    assert.ok(stakerOf(h, alice).jailed)
    assert.deepEqual(
      outcome.validatorUpdates.filter((u) => u.address === alice.address).map((u) => [u.consensusKey, u.power]),
      [[toHex(consensus.publicKey), 0n]],
      'consensus removes the consensus key',
    )
  })
})

describe('chain/tx: register names keys in one canonical form', () => {
  const chainId = 'r3mes-local'
  const decode = (msg: Record<string, unknown>): Msg =>
    decodeTx(encodeTx({ chainId, nonce: 0, fee: 1n, msg: msg as unknown as Msg }, alice), 1 << 16).body.msg
  const code = (msg: Record<string, unknown>): string => {
    try {
      decode(msg)
      return 'OK'
    } catch (error) {
      assert.ok(error instanceof TxRejected)
      return `${error.code} ${String(error.details.field)}`
    }
  }
  const base = { type: 'register', roles: ['validator'], subnet: null }
  const { consensus, peer } = nodeKeys('decode')
  const named = {
    consensusKey: toHex(consensus.publicKey),
    consensusKeyProof: signKeyProof('consensus', consensus.secretKey, chainId, alice.address),
    peerId: peerIdOfKey(peer.publicKey),
    peerIdProof: signKeyProof('peer', peer.secretKey, chainId, alice.address),
  }

  it('decodes the named keys and proofs as signed, and a register without them as before', () => {
    assert.deepEqual(decode({ ...base, ...named }), { ...base, ...named })
    assert.deepEqual(decode(base), base)
    assert.deepEqual(decode({ ...base, peerId: named.peerId, peerIdProof: named.peerIdProof }), {
      ...base,
      peerId: named.peerId,
      peerIdProof: named.peerIdProof,
    })
  })

  it('refuses a key without its proof, a proof without its key, and malformed keys, naming the field', () => {
    const { consensusKeyProof: _cp, ...noConsensusProof } = named
    const { peerId: _p, ...noPeerId } = named
    assert.equal(code({ ...base, ...noConsensusProof }), 'ERR_INVALID_FIELD msg.consensusKeyProof')
    assert.equal(code({ ...base, ...noPeerId }), 'ERR_INVALID_FIELD msg.peerId')
    assert.equal(
      code({ ...base, ...named, consensusKey: named.consensusKey.toUpperCase() }),
      'ERR_INVALID_FIELD msg.consensusKey',
    )
    assert.equal(
      code({ ...base, ...named, consensusKey: named.consensusKey.slice(2) }),
      'ERR_INVALID_FIELD msg.consensusKey',
    )
    assert.equal(code({ ...base, ...named, consensusKeyProof: 'ab' }), 'ERR_INVALID_FIELD msg.consensusKeyProof')
    assert.equal(code({ ...base, ...named, peerId: toHex(peer.publicKey) }), 'ERR_INVALID_FIELD msg.peerId')
    assert.equal(code({ ...base, ...named, peerId: `${named.peerId.slice(0, -1)}0` }), 'ERR_INVALID_FIELD msg.peerId')
    assert.equal(code({ ...base, ...named, peerIdProof: null }), 'ERR_INVALID_FIELD msg.peerIdProof')
    assert.equal(code({ ...base, ...named, peerKey: 'x' }), 'ERR_INVALID_FIELD msg.peerKey')
  })
})
