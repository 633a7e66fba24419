import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { keyPairFromSeed, testKey } from '../../src/chain/keys.ts'
import { toHex } from '../../src/codec/bytes.ts'
import {
  ACCOUNT_KEY_FILE,
  ACCOUNT_KEYSTORE_FILE,
  CONSENSUS_KEY_FILE,
  LEGACY_NODE_KEY_FILE,
  loadAccountKey,
  loadOperatorKeys,
  showOperatorKeys,
  writeKeySeed,
  writeNewOperatorKeys,
} from '../../src/operator/home.ts'
import {
  DEFAULT_SCRYPT_PARAMS,
  decryptKeystore,
  encryptKeystore,
  type KeystoreFile,
  parseKeystore,
  readPassphraseFile,
  WrongPassphraseError,
} from '../../src/operator/keystore.ts'
import { CorruptDataError, InvalidArgumentError, type R3mesError } from '../../src/runtime/errors.ts'
import { MAX_PASSPHRASE_FILE_BYTES } from '../../src/runtime/limits.ts'

/** Cheap scrypt parameters for the many keystores a property opens; the format is the same. */
const FAST = { n: 16, r: 1, p: 1 }

function thrown(fn: () => unknown): R3mesError {
  try {
    fn()
  } catch (error) {
    return error as R3mesError
  }
  assert.fail('expected an error')
}

/** The keystore as a file holds it, parsed back: what a reader sees. */
function roundTripFile(file: KeystoreFile): KeystoreFile {
  return parseKeystore(JSON.stringify(file), 'k.json')
}

function flipHexByte(text: string, index: number): string {
  const at = (index % (text.length / 2)) * 2
  const byte = Number.parseInt(text.slice(at, at + 2), 16) ^ 0x01
  return `${text.slice(0, at)}${byte.toString(16).padStart(2, '0')}${text.slice(at + 2)}`
}

describe('operator keystore (scrypt + AES-256-GCM)', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-keystore-'))
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('seals with the stated parameters and opens with the passphrase', () => {
    const key = testKey('alice')
    const file = roundTripFile(encryptKeystore(key.secretKey, 'correct horse battery staple'))
    assert.deepEqual({ n: file.kdf.n, r: file.kdf.r, p: file.kdf.p }, DEFAULT_SCRYPT_PARAMS)
    assert.deepEqual(DEFAULT_SCRYPT_PARAMS, { n: 32768, r: 8, p: 1 })
    assert.equal(file.address, key.address)
    assert.equal(file.publicKey, toHex(key.publicKey))
    assert.ok(!JSON.stringify(file).includes(toHex(key.secretKey)), 'the seed is not in the file')
    assert.deepEqual(decryptKeystore(file, 'correct horse battery staple', 'k.json').secretKey, key.secretKey)
  })

  it('tells a wrong passphrase by its own error code', () => {
    const file = encryptKeystore(testKey('alice').secretKey, 'right', FAST)
    const error = thrown(() => decryptKeystore(file, 'wrong', 'k.json'))
    assert.ok(error instanceof WrongPassphraseError)
    assert.equal(error.code, 'ERR_WRONG_PASSPHRASE')
    assert.match(error.message, /wrong passphrase for the keystore k\.json/)
  })

  it('reads a passphrase the same however its accents are composed (NFKC)', () => {
    const file = encryptKeystore(testKey('alice').secretKey, 'caf\u00e9', FAST)
    assert.equal(decryptKeystore(file, 'cafe\u0301', 'k.json').address, testKey('alice').address)
  })

  it('refuses a corrupt file as corrupt, naming what is wrong', () => {
    const good = encryptKeystore(testKey('alice').secretKey, 'pw', FAST)
    const other = testKey('bob')
    const cases: [string, RegExp][] = [
      ['{"version": 1,', /is not JSON/],
      [JSON.stringify({ ...good, version: 2 }), /version/],
      [JSON.stringify({ ...good, cipher: { ...good.cipher, tag: 'abcd' } }), /cipher\.tag: must be 16 bytes of hex/],
      [JSON.stringify({ ...good, kdf: { ...good.kdf, n: 1000 } }), /kdf\.n: must be a power of two/],
      [JSON.stringify({ ...good, extra: true }), /not a keystore/],
      [JSON.stringify({ ...good, address: other.address }), /its address does not belong to its public key/],
      // An N this large would take 128 GiB: refused before scrypt runs.
      [JSON.stringify({ ...good, kdf: { ...good.kdf, n: 2 ** 30, r: 8 } }), /asks scrypt for \d+ bytes, over the/],
    ]
    for (const [json, expected] of cases) {
      const error = thrown(() => parseKeystore(json, 'k.json'))
      assert.ok(error instanceof CorruptDataError, `${json}: ${String(error)}`)
      assert.match(error.message, expected, json)
    }
  })

  it('refuses as corrupt a file whose sealed key is not the one its address names', () => {
    const sealed = encryptKeystore(testKey('alice').secretKey, 'pw', FAST)
    const bob = testKey('bob')
    const swapped = roundTripFile({ ...sealed, address: bob.address, publicKey: toHex(bob.publicKey) })
    const error = thrown(() => decryptKeystore(swapped, 'pw', 'k.json'))
    assert.ok(error instanceof CorruptDataError)
    assert.match(error.message, /the sealed key is not the one its address names/)
  })

  it('property: any key under any passphrase opens again, and no other passphrase opens it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ minLength: 1, maxLength: 64, unit: 'grapheme' }),
        fc.string({ minLength: 1, maxLength: 64 }),
        (seed, passphrase, other) => {
          const file = roundTripFile(encryptKeystore(seed, passphrase, FAST))
          assert.deepEqual(decryptKeystore(file, passphrase, 'k.json').secretKey, seed)
          assert.equal(file.address, keyPairFromSeed(seed).address)
          if (other.normalize('NFKC') !== passphrase.normalize('NFKC'))
            assert.ok(thrown(() => decryptKeystore(file, other, 'k.json')) instanceof WrongPassphraseError)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('property: a flipped byte of the salt, IV, ciphertext or tag never opens the key', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom('salt', 'iv', 'ciphertext', 'tag'),
        fc.nat(),
        (seed, field, index) => {
          const file = encryptKeystore(seed, 'pw', FAST)
          const altered: KeystoreFile =
            field === 'salt'
              ? { ...file, kdf: { ...file.kdf, salt: flipHexByte(file.kdf.salt, index) } }
              : { ...file, cipher: { ...file.cipher, [field]: flipHexByte(file.cipher[field], index) } }
          const error = thrown(() => decryptKeystore(roundTripFile(altered), 'pw', 'k.json'))
          assert.ok(error instanceof WrongPassphraseError || error instanceof CorruptDataError, String(error))
        },
      ),
      { numRuns: 100 },
    )
  })

  it('reads a passphrase file: its first line, without the line break; refuses an empty or oversized one', () => {
    const path = join(dir, 'pass')
    writeFileSync(path, 'two words\r\nsecond line\n')
    assert.equal(readPassphraseFile(path), 'two words')
    writeFileSync(path, '\nsecret\n')
    assert.match(thrown(() => readPassphraseFile(path)).message, /has an empty first line/)
    writeFileSync(path, 'x'.repeat(MAX_PASSPHRASE_FILE_BYTES + 1))
    assert.match(thrown(() => readPassphraseFile(path)).message, /over the 4096 allowed/)
    assert.ok(thrown(() => readPassphraseFile(join(dir, 'none'))) instanceof InvalidArgumentError)
  })

  describe('in an operator home', () => {
    it('writes fresh keys: keys/ 0700, each key file 0600, never over an existing one', () => {
      const keys = writeNewOperatorKeys(dir)
      assert.equal(statSync(join(dir, 'keys')).mode & 0o777, 0o700)
      for (const file of [ACCOUNT_KEY_FILE, CONSENSUS_KEY_FILE])
        assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600, file)
      assert.notDeepEqual(keys.account.publicKey, keys.consensus.publicKey)
      const before = readFileSync(join(dir, ACCOUNT_KEY_FILE), 'utf8')
      assert.throws(() => writeNewOperatorKeys(dir), /EEXIST/)
      assert.equal(readFileSync(join(dir, ACCOUNT_KEY_FILE), 'utf8'), before)
      assert.deepEqual(loadOperatorKeys(dir).account.address, keys.account.address)
    })

    it('opens an encrypted account key with its passphrase, and says what is missing or wrong', () => {
      const keys = writeNewOperatorKeys(dir, { passphrase: 'pw', scrypt: FAST })
      assert.equal(statSync(join(dir, ACCOUNT_KEYSTORE_FILE)).mode & 0o777, 0o600)
      const opened = loadOperatorKeys(dir, { passphrase: 'pw' })
      assert.deepEqual(opened.account.secretKey, keys.account.secretKey)
      assert.deepEqual(opened.consensusSeed, keys.consensusSeed)

      const missing = thrown(() => loadOperatorKeys(dir))
      assert.ok(missing instanceof InvalidArgumentError)
      assert.match(missing.message, /is encrypted: give its passphrase with --passphrase-file FILE/)
      assert.ok(thrown(() => loadOperatorKeys(dir, { passphrase: 'nope' })) instanceof WrongPassphraseError)

      // What is shown needs no passphrase and holds no secret.
      assert.deepEqual(showOperatorKeys(dir), {
        address: keys.account.address,
        accountPublicKey: toHex(keys.account.publicKey),
        consensusPublicKey: toHex(keys.consensus.publicKey),
        encrypted: true,
      })

      const keystore = readFileSync(join(dir, ACCOUNT_KEYSTORE_FILE), 'utf8')
      writeFileSync(join(dir, ACCOUNT_KEYSTORE_FILE), keystore.replace('"version": 1', '"version": "1"'))
      assert.ok(thrown(() => loadOperatorKeys(dir, { passphrase: 'pw' })) instanceof CorruptDataError)
      assert.equal(readFileSync(join(dir, CONSENSUS_KEY_FILE), 'utf8').trim().length, 64, 'nothing else touched')
    })

    it('refuses a home holding the account key both in the clear and encrypted', () => {
      writeNewOperatorKeys(dir, { passphrase: 'pw', scrypt: FAST })
      writeKeySeed(join(dir, ACCOUNT_KEY_FILE), testKey('x').secretKey)
      assert.match(thrown(() => loadOperatorKeys(dir, { passphrase: 'pw' })).message, /has the account key twice/)
    })

    it('still reads a legacy home whose one node.key is every key', () => {
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, LEGACY_NODE_KEY_FILE), `${toHex(testKey('legacy').secretKey)}\n`)
      const keys = loadOperatorKeys(dir)
      assert.equal(keys.account.address, testKey('legacy').address)
      assert.deepEqual(keys.consensus.publicKey, testKey('legacy').publicKey)
      assert.equal(loadAccountKey(dir).address, testKey('legacy').address)
    })

    it('reads the account key alone from a home that keeps no consensus key', () => {
      writeKeySeed(join(dir, ACCOUNT_KEY_FILE), testKey('payer').secretKey)
      assert.equal(loadAccountKey(dir).address, testKey('payer').address)
      assert.match(thrown(() => loadOperatorKeys(dir)).message, /cannot read the key file .*consensus\.key/)
    })
  })
})
