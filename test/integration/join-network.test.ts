/**
 * Joining a running network from another machine, end to end and as an operator does it:
 * a testnet runs on a virtual LAN (every node in its own network namespace, with its own
 * address: src/testnet/hosts.ts). A new operator on a host of its own runs `r3mes init`, is
 * funded by a validator with `r3mes tx send`, stakes and registers as a miner with `r3mes tx`,
 * starts `r3mes node` from the genesis file and one bootstrap address, syncs the chain, gets
 * tasks in the next window, has its submissions accepted and is paid (`r3mes query account`).
 * A second operator joins as a validator the same way and proposes blocks: the consensus set
 * grows. Every command runs as a real process inside the operator's namespace, against the
 * validators' public APIs on their LAN addresses.
 */
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Clock, sleep } from '../../src/runtime/clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { hostsAvailable, type VirtualHost, type VirtualLan } from '../../src/testnet/hosts.ts'
import type { NodeProcess } from '../../src/testnet/node-process.ts'
import { Testnet } from '../../src/testnet/testnet.ts'
import { expandTopology } from '../../src/topology/expand.ts'
import { loadTopology } from '../../src/topology/load.ts'
import { type Run, runR3mes, spawnR3mes } from './helpers/r3mes-process.ts'

const clock: Clock = new SystemClock()

/**
 * Four validators (a joining validator then holds a fifth of the power, so the chain never
 * waits for it) and one subnet of one miner on the `micro` model: with the joining miner the
 * subnet has the two replicas every task needs.
 */
const TOPOLOGY = `name: join
model: micro
seed: 7
chain:
  preset: localTestnet
  blockTimeMs: 1000
  windowBlocks: 20
validators: { count: 4, stake: 20000 }
subnets:
  - layers: [0, 2]
    miners: 1
run: { windows: 100, timeoutMs: 3600000 }
`

/** `r3mes ARGS` run to its end inside `host`'s network namespace. */
function r3mesOn(lan: VirtualLan, host: VirtualHost, args: readonly string[], timeoutMs = 120_000): Promise<Run> {
  return runR3mes(args, { timeoutMs, prefix: lan.exec(host) })
}

/** `r3mes ARGS --json` that must succeed; its JSON answer. */
async function r3mesJson<T>(lan: VirtualLan, host: VirtualHost, args: readonly string[]): Promise<T> {
  const run = await r3mesOn(lan, host, [...args, '--json'])
  assert.equal(run.code, 0, `r3mes ${args.join(' ')} failed:\n${run.err}${run.out}`)
  return JSON.parse(run.out) as T
}

/** GET `path` from a node's API over its Unix socket (the test runs outside every namespace). */
function getOverSocket<T>(socketPath: string, path: string): Promise<T | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path, headers: { host: 'localhost' } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', () => resolve(undefined))
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as T) : undefined)
        } catch {
          resolve(undefined)
        }
      })
    })
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

/** Poll `probe` until it gives a value, or fail naming `what`. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = clock.monotonicMs() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (clock.monotonicMs() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(clock, 1000)
  }
}

interface Status {
  readonly height: number
  readonly window: number | null
  readonly validator: boolean
  readonly peers: number
}

interface InitOutput {
  readonly address: string
  readonly consensusPublicKey: string
  readonly peerId: string
}

/** A joining operator: a host on the LAN, a home made by `r3mes init`, a node process once started. */
interface Operator {
  readonly host: VirtualHost
  readonly home: string
  readonly keys: InitOutput
  process?: ChildProcess
}

const available = hostsAvailable()

describe(`joining a running network from another host${available.ok ? '' : ` (skipped: ${available.reason})`}`, function () {
  this.timeout(900_000)
  let root = ''
  let net: Testnet | undefined
  const operators: Operator[] = []

  before(async function () {
    if (!available.ok) this.skip()
    root = await mkdtemp(join(tmpdir(), 'r3mes-join-'))
  })

  after(async () => {
    for (const op of operators) op.process?.kill('SIGTERM')
    for (const op of operators)
      if (op.process !== undefined && op.process.exitCode === null)
        await new Promise((resolve) => op.process?.once('exit', resolve))
    if (net !== undefined) {
      await net.stop()
      net.destroyHosts()
      net.cleanup()
    }
    if (root !== '') await rm(root, { recursive: true, force: true, maxRetries: 5 })
  })

  it('an operator inits, is funded, stakes, registers a miner, syncs, trains and is paid; a validator joins and proposes', async () => {
    const file = join(root, 'join.yaml')
    await writeFile(file, TOPOLOGY)
    const plan = expandTopology(await loadTopology(file))
    net = new Testnet(plan, { dir: join(root, 'run'), clock, hosts: true, logLevel: 'warn' })
    const layout = await net.setup()
    await net.start()
    const lan = net.lan as VirtualLan
    const bank = net.nodes.find((n) => n.name === 'validator-0') as NodeProcess
    const bankHost = bank.layout.host as VirtualHost
    assert.ok(bankHost !== undefined, 'the testnet runs on the virtual LAN')
    const node = `http://${bankHost.address}:${bank.layout.apiPort}`
    const chainHeight = async (): Promise<number> => (await bank.get<Status>('/status'))?.height ?? 0

    /** `r3mes init` on a host of its own, then funds from validator-0 with `r3mes tx send`. */
    const newOperator = async (name: string, roles: string, funds: string): Promise<Operator> => {
      const host = lan.addHost()
      const home = join(root, name)
      const keys = await r3mesJson<InitOutput>(lan, host, [
        'init',
        ...['--home', home, '--moniker', name, '--roles', roles],
        ...['--listen', `/ip4/${host.address}/tcp/0`, '--api-address', `${host.address}:0`],
      ])
      assert.notEqual(keys.consensusPublicKey, undefined)
      const sent = await r3mesJson<{ code: string }>(lan, host, [
        ...['tx', 'send', keys.address, funds],
        ...['--home', bank.layout.home, '--node', node],
      ])
      assert.equal(sent.code, 'OK')
      const op: Operator = { host, home, keys }
      operators.push(op)
      return op
    }

    const balanceOf = async (op: Operator): Promise<bigint> => {
      const account = await r3mesJson<{ balance: string } | null>(lan, op.host, [
        ...['query', 'account', op.keys.address, '--node', node],
      ])
      return BigInt(account?.balance ?? '0')
    }

    /** `r3mes node` from the genesis file and one bootstrap address, inside the operator's host. */
    const startOperatorNode = (op: Operator, extra: readonly string[]): void => {
      op.process = spawnR3mes(
        [
          'node',
          ...['--home', op.home, '--genesis', layout.genesisFile, '--bootstrap', bank.layout.multiaddr],
          ...['--lan', '--api-socket', join(op.home, 'api.sock'), '--log-level', 'warn', ...extra],
        ],
        { logFile: join(op.home, 'node.log'), prefix: lan.exec(op.host) },
      )
    }
    const statusOf = (op: Operator): Promise<Status | undefined> =>
      getOverSocket<Status>(join(op.home, 'api.sock'), '/status')

    // ---- a miner joins -------------------------------------------------------------------
    const miner = await newOperator('miner-op', 'miner', '5000')
    assert.ok((await balanceOf(miner)) >= 5000n * 10n ** 6n, 'the transfer funded the new account')
    const staked = await r3mesJson<{ code: string; height: number }>(lan, miner.host, [
      ...['tx', 'stake', '2000', '--home', miner.home, '--node', node],
    ])
    assert.equal(staked.code, 'OK')
    const registered = await r3mesJson<{ code: string; height: number }>(lan, miner.host, [
      ...['tx', 'register', 'miner', '--subnet', '0', '--home', miner.home, '--node', node],
    ])
    assert.equal(registered.code, 'OK')
    const staker = await r3mesJson<{ roles: string[]; subnet: number; peerId: string; consensusKey: string }>(
      lan,
      miner.host,
      ['query', 'staker', miner.keys.address, '--node', node],
    )
    assert.deepEqual(staker.roles, ['miner'])
    assert.equal(staker.peerId, miner.keys.peerId, 'the chain knows the peer id init wrote')
    const registeredWindow = (await bank.get<Status>('/status'))?.window ?? 0
    const paidFrom = await balanceOf(miner)

    const joinHeight = await chainHeight()
    const syncStart = clock.monotonicMs()
    startOperatorNode(miner, ['--subnet', '0'])
    const synced = await until('the new miner to sync the chain', 180_000, async () => {
      const s = await statusOf(miner)
      return s !== undefined && s.height >= (await chainHeight()) - 1 && s.height >= joinHeight ? s : undefined
    })
    process.stdout.write(
      `      the miner synced ${synced.height} blocks in ${((clock.monotonicMs() - syncStart) / 1000).toFixed(1)} s (start-up included), ${synced.peers} peers\n`,
    )

    const taskWindow = await until('tasks for the new miner in a window after it registered', 180_000, async () => {
      const w = (await bank.get<Status>('/status'))?.window ?? 0
      for (let id = registeredWindow + 1; id <= w; id++) {
        const tasks = await bank.get<unknown[]>(`/query/tasks/${id}/${miner.keys.address}`)
        if (tasks !== undefined && tasks.length > 0) return id
      }
      return undefined
    })
    const accepted = await until('an accepted submission of the new miner', 240_000, async () => {
      const claims = (await bank.get<{ id: string; status: string }[]>(`/query/claims/${taskWindow}`)) ?? []
      const mine = claims.filter((c) => c.id.endsWith(`/${miner.keys.address}`))
      return mine.some((c) => c.status === 'accepted') ? mine : undefined
    })
    assert.ok(accepted.length > 0)
    const paid = await until('the new miner to be paid', 300_000, async () => {
      const balance = await balanceOf(miner)
      return balance > paidFrom ? balance : undefined
    })
    process.stdout.write(
      `      window ${taskWindow}: ${accepted.length} submissions accepted; paid ${paid - paidFrom} base units\n`,
    )

    // ---- a validator joins ---------------------------------------------------------------
    const validatorsBefore = (await bank.get<unknown[]>('/query/validators'))?.length ?? 0
    const validator = await newOperator('validator-op', 'validator', '25000')
    for (const args of [
      ['tx', 'stake', '20000'],
      ['tx', 'register', 'validator'],
    ]) {
      const landed = await r3mesJson<{ code: string }>(lan, validator.host, [
        ...args,
        ...['--home', validator.home, '--node', node],
      ])
      assert.equal(landed.code, 'OK', args.join(' '))
    }
    startOperatorNode(validator, [])
    const set = await until('the consensus set to grow', 120_000, async () => {
      const v = (await bank.get<{ address: string; consensusKey: string }[]>('/query/validators')) ?? []
      return v.length > validatorsBefore ? v : undefined
    })
    assert.ok(
      set.some((v) => v.consensusKey === validator.keys.consensusPublicKey),
      'the new consensus key is in the set',
    )
    const from = await chainHeight()
    let cursor = from
    await until('a block proposed by the new validator', 240_000, async () => {
      const rows = (await bank.get<{ height: number; proposerKey: string }[]>(`/chain/history?from=${cursor}`)) ?? []
      cursor = Math.max(cursor, ...rows.map((r) => r.height))
      return rows.find((r) => r.proposerKey === validator.keys.consensusPublicKey)
    })
    const own = await until('the new validator to know it validates', 60_000, async () => {
      const s = await statusOf(validator)
      return s?.validator === true ? s : undefined
    })
    assert.ok(own.height > from)
    assert.ok(existsSync(join(validator.home, 'keys', 'consensus.key')))
    assert.ok(readFileSync(join(validator.home, 'config.toml'), 'utf8').includes('validator-op'))
  })
})
