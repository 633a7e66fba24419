/**
 * The dependency direction of docs/ARCHITECTURE.md §3 is enforced by Biome's
 * noRestrictedImports, one override per folder in biome.json. Each case plants a file in a
 * layer and checks that lint flags exactly the imports against the direction.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const root = new URL('../../../', import.meta.url).pathname
const biome = join(root, 'node_modules', '.bin', 'biome')

async function lint(relativePaths: readonly string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(biome, ['lint', '--colors=off', '--max-diagnostics=500', ...relativePaths], {
      cwd: root,
    })
    return { code: 0, output: stdout + stderr }
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string }
    return { code: failure.code, output: failure.stdout + failure.stderr }
  }
}

interface Case {
  readonly folder: string
  readonly forbidden: readonly string[]
  readonly allowed: readonly string[]
}

/** Import lines by layer: `forbidden` must each be flagged, `allowed` must not be. */
const CASES: readonly Case[] = [
  {
    folder: 'runtime',
    forbidden: ["import { sha256 } from '../codec/hash.ts'", "import { step } from '../consensus/core.ts'"],
    allowed: ["import { assert } from './assert.ts'"],
  },
  {
    folder: 'codec',
    forbidden: ["import { ChainApp } from '../chain/app.ts'", "import { startNetNode } from '../net/node.ts'"],
    allowed: [
      "import { R3mesError } from '../runtime/errors.ts'",
      "import { createHash } from 'node:crypto'",
      "import sodium from 'sodium-native'",
    ],
  },
  {
    folder: 'chain',
    forbidden: [
      "import { startNetNode } from '../net/node.ts'",
      "import { encodeTensor } from '../ml/serialize.ts'",
      "import { startNode } from '../actors/node.ts'",
      "import { main } from '../cli/main.ts'",
      "import { loadTopology } from '../topology/load.ts'",
      "import { createLibp2p } from 'libp2p'",
      "import { gossipsub } from '@libp2p/gossipsub'",
      "import { createHash } from 'node:crypto'",
      "import sodium from 'sodium-native'",
    ],
    allowed: [
      "import { voteSignBytes } from '../consensus/signing.ts'",
      "import { canonicalJson } from '../codec/canonical-json.ts'",
      "import { randomBytes } from 'node:crypto'",
    ],
  },
  {
    folder: 'consensus',
    forbidden: [
      "import { ChainApp } from '../chain/app.ts'",
      "import { startNetNode } from '../net/node.ts'",
      "import { startNode } from '../actors/node.ts'",
      "import { sign } from 'node:crypto'",
    ],
    allowed: [
      "import { sha256 } from '../codec/hash.ts'",
      "import { MAX_CONSENSUS_ROUND } from '../runtime/limits.ts'",
    ],
  },
  {
    folder: 'net',
    forbidden: [
      "import { step } from '../consensus/core.ts'",
      "import { ChainApp } from '../chain/app.ts'",
      "import { encodeTensor } from '../ml/serialize.ts'",
      "import { startNode } from '../actors/node.ts'",
    ],
    allowed: ["import { cidOf } from '../codec/cid.ts'", "import { createLibp2p } from 'libp2p'"],
  },
  {
    folder: 'ml/kernels',
    forbidden: [
      "import { ChainApp } from '../../chain/app.ts'",
      "import { startNetNode } from '../../net/node.ts'",
      "import { startNode } from '../../actors/node.ts'",
    ],
    allowed: ["import { tensor } from '../tensor.ts'", "import { deriveKey } from '../../codec/prng.ts'"],
  },
  {
    folder: 'topology',
    forbidden: [
      "import { startNode } from '../actors/node.ts'",
      "import { decodeTx } from '../chain/tx.ts'",
      "import { encodeTensor } from '../ml/serialize.ts'",
      "import { startNetNode } from '../net/node.ts'",
    ],
    allowed: [
      "import { defaultParams } from '../chain/params.ts'",
      "import { GenesisError } from '../chain/errors.ts'",
      "import { modelConfigs } from '../ml/config.ts'",
    ],
  },
  {
    folder: 'operator',
    forbidden: [
      "import { startNode } from '../actors/node.ts'",
      "import { startNetNode } from '../net/node.ts'",
      "import { step } from '../consensus/core.ts'",
      "import { loadTopology } from '../topology/load.ts'",
      "import { main } from '../cli/main.ts'",
      "import { tcp } from '@libp2p/tcp'",
      "import { createHash } from 'node:crypto'",
    ],
    allowed: [
      "import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'",
      "import { keyPairFromSeed } from '../chain/keys.ts'",
      "import { toHex } from '../codec/bytes.ts'",
      "import { NODE_ROLES } from '../topology/roles.ts'",
      "import { scryptSync } from 'node:crypto'",
    ],
  },
  {
    folder: 'actors/roles',
    forbidden: ["import { main } from '../../cli/main.ts'", "import { startTestnet } from '../../testnet/testnet.ts'"],
    allowed: [
      "import { ChainApp } from '../../chain/app.ts'",
      "import { startNetNode } from '../../net/node.ts'",
      "import { NODE_ROLES } from '../../topology/roles.ts'",
    ],
  },
  {
    folder: 'sim',
    forbidden: [
      "import { startNetNode } from '../net/node.ts'",
      "import { startTestnet } from '../testnet/testnet.ts'",
      "import { main } from '../cli/main.ts'",
      "import { kernelTaskWork } from '../actors/roles/kernel-task-work.ts'",
      "import { startCollector } from '../dashboard/collector.ts'",
      "import { createLibp2p } from 'libp2p'",
      "import { createHash } from 'node:crypto'",
    ],
    allowed: [
      "import { ConsensusNode } from '../consensus/node.ts'",
      "import { ChainApp } from '../chain/app.ts'",
      "import { ChainApplication } from '../actors/chain-application.ts'",
      "import { SimulatedClock } from '../runtime/clock.ts'",
      "import { minerMachine } from '../actors/roles/miner.ts'",
    ],
  },
  {
    folder: 'testnet',
    forbidden: ["import { main } from '../cli/main.ts'"],
    allowed: ["import { startNode } from '../actors/node.ts'", "import { loadTopology } from '../topology/load.ts'"],
  },
  {
    folder: 'dashboard',
    forbidden: ["import { main } from '../cli/main.ts'", "import { createHash } from 'node:crypto'"],
    allowed: [
      "import { Router } from '../actors/http/http-server.ts'",
      "import { Testnet } from '../testnet/testnet.ts'",
    ],
  },
]

describe('lint: the dependency direction of docs/ARCHITECTURE.md §3', function () {
  this.timeout(60_000)

  it('flags every import against the direction, in every layer, and no import along it', async () => {
    const planted = CASES.map((c) => join('src', c.folder, `planted-layering-${process.pid}.ts`))
    try {
      for (const [index, c] of CASES.entries())
        await writeFile(join(root, planted[index] as string), `${[...c.forbidden, ...c.allowed].join('\n')}\n`)
      const { code, output } = await lint(planted)
      assert.notEqual(code, 0, output)
      for (const [index, c] of CASES.entries()) {
        const file = (planted[index] as string).replaceAll('\\', '/')
        const flagged = new Set(
          [...output.matchAll(new RegExp(`${file}:(\\d+):\\d+ lint/style/noRestrictedImports`, 'g'))].map((m) =>
            Number(m[1]),
          ),
        )
        for (const [line, text] of c.forbidden.entries())
          assert.ok(flagged.has(line + 1), `src/${c.folder}: "${text}" is not flagged\n${output}`)
        for (const [line, text] of c.allowed.entries())
          assert.ok(!flagged.has(c.forbidden.length + line + 1), `src/${c.folder}: "${text}" is flagged\n${output}`)
      }
    } finally {
      for (const file of planted) await rm(join(root, file), { force: true })
    }
  })

  it('passes on the code as it is', async () => {
    const { code, output } = await lint(['src'])
    assert.equal(code, 0, output)
  })
})
