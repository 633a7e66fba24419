/**
 * A node's libp2p identity lives in one key file in its home folder, so a restarted node
 * keeps its peer id (peers, scores and the chain's node registry refer to it).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { CorruptDataError } from '../runtime/errors.ts'

export const IDENTITY_FILE = 'identity.key'

/** The identity in `<homeDir>/identity.key`; undefined when there is no such file. */
export async function readIdentity(homeDir: string): Promise<PrivateKey | undefined> {
  const path = join(homeDir, IDENTITY_FILE)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (error) {
    throw new CorruptDataError(`identity key file ${path} does not decode`, { path }, { cause: error })
  }
}

/** Read `<homeDir>/identity.key`, or create it (Ed25519, mode 0600) when there is none. */
export async function loadOrCreateIdentity(homeDir: string): Promise<PrivateKey> {
  const existing = await readIdentity(homeDir)
  if (existing !== undefined) return existing
  const key = await generateKeyPair('Ed25519')
  await mkdir(homeDir, { recursive: true })
  // 'wx' fails rather than overwrite a key another process wrote in the meantime.
  await writeFile(join(homeDir, IDENTITY_FILE), privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  await chmod(join(homeDir, IDENTITY_FILE), 0o600)
  return key
}
