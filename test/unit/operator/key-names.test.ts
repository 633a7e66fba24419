/**
 * The keys a home's `register` names: its consensus key and libp2p peer id with proofs that
 * verify for its account on the chain, nothing for a legacy single-key home, and a clear error
 * for an identity file that is not a libp2p key.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { installLibp2pIdentity, writeNodeKey } from '../../../src/actors/identity.ts'
import { publicKeyOfPeerId, verifyKeyProof } from '../../../src/chain/key-proofs.ts'
import { keyPairFromSeed, peerIdOfKey } from '../../../src/chain/keys.ts'
import { toHex } from '../../../src/codec/bytes.ts'
import { sha256 } from '../../../src/codec/hash.ts'
import { ACCOUNT_KEY_FILE, CONSENSUS_KEY_FILE, loadOperatorKeys, writeKeySeed } from '../../../src/operator/home.ts'
import { IDENTITY_KEY_FILE, namedKeysOf } from '../../../src/operator/key-names.ts'
import { CorruptDataError } from '../../../src/runtime/errors.ts'

describe('operator: the keys a register names', () => {
  let root = ''
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-key-names-'))
  })
  after(async () => {
    await rm(root, { recursive: true, force: true })
  })

  it("names a split home's consensus key and peer id, with proofs for its account on that chain only", async () => {
    const home = join(root, 'split')
    writeKeySeed(join(home, ACCOUNT_KEY_FILE), sha256('account'))
    writeKeySeed(join(home, CONSENSUS_KEY_FILE), sha256('consensus'))
    await installLibp2pIdentity(join(home, 'net'), sha256('net'))
    const keys = loadOperatorKeys(home)
    const named = namedKeysOf(home, keys, 'chain-a')
    assert.equal(named.consensusKey, toHex(keys.consensus.publicKey))
    assert.equal(named.peerId, peerIdOfKey(keyPairFromSeed(sha256('net')).publicKey))
    const address = keys.account.address
    const peerKey = publicKeyOfPeerId(named.peerId as string) as Uint8Array
    assert.ok(verifyKeyProof('consensus', keys.consensus.publicKey, 'chain-a', address, named.consensusKeyProof))
    assert.ok(verifyKeyProof('peer', peerKey, 'chain-a', address, named.peerIdProof))
    assert.equal(verifyKeyProof('peer', peerKey, 'chain-b', address, named.peerIdProof), false)
  })

  it('names nothing for a legacy node.key home, whose keys are all the account key', async () => {
    const home = join(root, 'legacy')
    const seed = sha256('legacy')
    writeNodeKey(home, seed)
    await installLibp2pIdentity(join(home, 'net'), seed)
    assert.deepEqual(namedKeysOf(home, loadOperatorKeys(home), 'chain-a'), {})
    // A home with no libp2p identity yet names its consensus key only.
    const fresh = join(root, 'no-identity')
    writeKeySeed(join(fresh, ACCOUNT_KEY_FILE), sha256('a2'))
    writeKeySeed(join(fresh, CONSENSUS_KEY_FILE), sha256('c2'))
    assert.deepEqual(Object.keys(namedKeysOf(fresh, loadOperatorKeys(fresh), 'chain-a')).sort(), [
      'consensusKey',
      'consensusKeyProof',
    ])
  })

  it('refuses an identity file that is not a libp2p key, naming it', async () => {
    const home = join(root, 'corrupt')
    writeKeySeed(join(home, ACCOUNT_KEY_FILE), sha256('a3'))
    writeKeySeed(join(home, CONSENSUS_KEY_FILE), sha256('c3'))
    await mkdir(join(home, 'net'), { recursive: true })
    await writeFile(join(home, IDENTITY_KEY_FILE), 'not a key')
    assert.throws(
      () => namedKeysOf(home, loadOperatorKeys(home), 'chain-a'),
      (error: unknown) => error instanceof CorruptDataError && error.message.includes(IDENTITY_KEY_FILE),
    )
  })
})
