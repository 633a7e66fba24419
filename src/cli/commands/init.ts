/** `r3mes init`: a new operator's home folder, with its configuration file and fresh keys. */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadOrCreateIdentity } from '../../net/identity.ts'
import { DEFAULT_INIT_LISTEN, parseConfig, renderConfig } from '../../operator/config.ts'
import { CONFIG_FILE, existingHomeFiles, writeNewOperatorKeys } from '../../operator/home.ts'
import { readPassphraseFile } from '../../operator/keystore.ts'
import { InvalidArgumentError } from '../../runtime/errors.ts'
import { NODE_ROLES } from '../../topology/roles.ts'
import { type CliIo, type Command, ExitCode, type ParsedCommandArgs } from '../command.ts'
import { hostPortOption, listOption, multiaddrsOption, oneOf, stringOption } from '../options.ts'
import { describeHomeKeys, printHomeKeys } from './keys.ts'

async function run(args: ParsedCommandArgs, io: CliIo): Promise<number> {
  const v = args.values
  const home = stringOption(v, 'home', '')
  if (home === '') throw new InvalidArgumentError('--home DIR is required: the folder to create the node in')
  const moniker = stringOption(v, 'moniker', '')
  if (moniker === '') throw new InvalidArgumentError("--moniker NAME is required: the node's name in the logs")
  const roles = listOption(v, 'roles')
    .flatMap((r) => r.split(','))
    .map((r) => oneOf(r.trim(), NODE_ROLES, '--roles'))
  const listen = multiaddrsOption(v, 'listen')
  // Checked as r3mes node will read it, and written as given.
  hostPortOption(v, 'api-address', { host: '127.0.0.1', port: 0 })
  const apiAddress = v['api-address'] === undefined ? undefined : stringOption(v, 'api-address', '')
  const chainId = v['chain-id'] === undefined ? undefined : stringOption(v, 'chain-id', '')
  if (v.encrypt === true && v['passphrase-file'] === undefined)
    throw new InvalidArgumentError('--encrypt needs --passphrase-file FILE: the passphrase that seals the account key')
  if (v.encrypt !== true && v['passphrase-file'] !== undefined)
    throw new InvalidArgumentError('--passphrase-file is for --encrypt: give both, or neither for a plaintext key')
  // Read before anything is written: a bad passphrase file leaves no half-made home behind.
  const passphrase = v.encrypt === true ? readPassphraseFile(stringOption(v, 'passphrase-file', '')) : undefined

  const config = renderConfig({
    moniker,
    listen: listen.length > 0 ? listen : [DEFAULT_INIT_LISTEN],
    roles: roles.length > 0 ? roles : ['validator'],
    ...(apiAddress === undefined ? {} : { apiAddress }),
  })
  // Read back as the node will read it, before anything is written: init never leaves a file the node refuses.
  parseConfig(config, join(home, CONFIG_FILE))

  const existing = existingHomeFiles(home)
  if (existing.length > 0) {
    throw new InvalidArgumentError(
      `${home} already holds a node (${existing.join(', ')}): r3mes init never overwrites keys or configuration; choose a new --home`,
    )
  }
  mkdirSync(home, { recursive: true })
  writeNewOperatorKeys(home, passphrase === undefined ? {} : { passphrase })
  mkdirSync(join(home, 'net'), { recursive: true, mode: 0o700 })
  chmodSync(join(home, 'net'), 0o700)
  // The libp2p identity is written by the network layer, in libp2p's own key format.
  await loadOrCreateIdentity(join(home, 'net'))
  // The configuration last: a home with a config.toml is a finished one.
  writeFileSync(join(home, CONFIG_FILE), config, { flag: 'wx' })
  const shown = await describeHomeKeys(home, chainId)
  printHomeKeys({ home, moniker, ...shown }, v.json === true, io)
  return ExitCode.ok
}

export const initCommand: Command = {
  name: 'init',
  summary: 'create a node home: configuration file, account and consensus keys, libp2p identity',
  usage: 'r3mes init --home DIR --moniker NAME [--roles ROLE[,ROLE]] [--listen MULTIADDR]... [options]',
  help: `Creates DIR with config.toml, keys/account.key (or keys/account.keystore.json with
--encrypt), keys/consensus.key and net/identity.key: fresh keys, files mode 0600, keys/ 0700.
A folder that already holds a configuration or a key is refused: nothing is overwritten.
Prints the account address, the consensus public key and the peer id.

Options:
  --home DIR              the folder to create (required)
  --moniker NAME          the node's name in the logs (required)
  --roles ROLE[,ROLE]     roles written into config.toml: ${NODE_ROLES.join(', ')} (default validator)
  --listen MULTIADDR      repeatable: listen addresses (default ${DEFAULT_INIT_LISTEN})
  --api-address HOST:PORT the HTTP API's address (default: 127.0.0.1, any free port)
  --chain-id ID           also print the proofs that the consensus key and the peer id
                          belong to this account on chain ID (for a gentx or a registration)
  --encrypt               store the account key encrypted (scrypt + AES-256-GCM)
  --passphrase-file FILE  the passphrase for --encrypt: the file's first line
  --json                  print one JSON object`,
  options: {
    home: { type: 'string' },
    moniker: { type: 'string' },
    roles: { type: 'string', multiple: true },
    listen: { type: 'string', multiple: true },
    'api-address': { type: 'string' },
    'chain-id': { type: 'string' },
    encrypt: { type: 'boolean' },
    'passphrase-file': { type: 'string' },
    json: { type: 'boolean' },
  },
  allowPositionals: false,
  run,
}
