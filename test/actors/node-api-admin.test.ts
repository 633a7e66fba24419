/**
 * The node API's admin route under attack, over real HTTP against a real node (one validator
 * on loopback): what a browser page (a text/plain "simple" POST, a DNS-rebinding Host), a
 * local process without the token, or any client of a node that never enabled admin can do.
 * The clock-skew fault is the probe: `GET /status` shows whether it took effect.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ADMIN_TOKEN_FILE, readAdminToken, writeAdminToken } from '../../src/actors/http/admin-access.ts'
import { writeNodeKey } from '../../src/actors/identity.ts'
import { localNetworkGenesis, nodeSeed } from '../../src/actors/local-network.ts'
import { type R3mesNode, startNode } from '../../src/actors/node.ts'
import { NodeApi } from '../../src/actors/node-api.ts'
import { nodeApiBackend } from '../../src/actors/node-api-backend.ts'
import { deriveKey } from '../../src/codec/prng.ts'
import { saveBackbone } from '../../src/ml/artifacts.ts'
import { modelConfigs } from '../../src/ml/config.ts'
import { initStageWeights } from '../../src/ml/weights.ts'
import { createLogger } from '../../src/runtime/logger.ts'
import { SeededRandom } from '../../src/runtime/random.ts'
import { SkewedClock } from '../../src/runtime/skewed-clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'

interface Answer {
  readonly status: number
  readonly body: string
}

/** One raw HTTP request, every header as given (fetch would not let a test set Host). */
function send(url: string, method: string, path: string, headers: Record<string, string>, body = ''): Promise<Answer> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const parts: Buffer[] = []
        res.on('data', (c: Buffer) => parts.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString('utf8') }))
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

describe('node API: the admin route refuses what a browser page or a stranger sends', function () {
  this.timeout(60_000)
  let root = ''
  let node: R3mesNode | undefined
  const apis: NodeApi[] = []
  const base = new SystemClock()
  const clock = new SkewedClock(base)
  const components = { clock, random: new SeededRandom(1), logger: createLogger({ name: 't', level: 'silent', clock }) }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'r3mes-admin-'))
    const config = modelConfigs.micro as (typeof modelConfigs)['micro']
    const modelDir = join(root, 'model')
    saveBackbone(modelDir, initStageWeights(config, 0, config.nLayers, deriveKey('admin', 'backbone')))
    const chainId = 'r3mes-admin-test'
    const genesis = localNetworkGenesis({
      chainId,
      seed: 'admin',
      modelDir,
      subnets: [[0, config.nLayers]],
      nodes: [{ name: 'v', roles: ['validator'] }],
      genesisTimeMs: clock.nowMs(),
    })
    const home = join(root, 'v')
    writeNodeKey(home, nodeSeed(chainId, 'admin', 'v'))
    node = await startNode(
      { home, genesis, roles: ['validator'], modelDir, listen: ['/ip4/127.0.0.1/tcp/0'] },
      components,
    )
  })
  after(async () => {
    for (const a of apis) await a.close()
    await node?.stop()
    if (root !== '') await rm(root, { recursive: true, force: true })
  })

  async function serve(admin: boolean): Promise<{ url: string; token: string; host: string }> {
    const file = join(root, ADMIN_TOKEN_FILE)
    const token = writeAdminToken(file)
    const api = new NodeApi({
      backend: nodeApiBackend(node as R3mesNode, clock),
      components,
      ...(admin ? { admin: { token: readAdminToken(file) } } : {}),
    })
    apis.push(api)
    const url = await api.listen()
    return { url, token, host: new URL(url).host }
  }

  const skew = async (url: string): Promise<number> =>
    ((await (await fetch(`${url}/status`)).json()) as { clockSkewMs: number }).clockSkewMs

  it('writes the token readable by its owner only', async () => {
    await serve(true)
    assert.equal((await stat(join(root, ADMIN_TOKEN_FILE))).mode & 0o777, 0o600)
  })

  it('refuses a missing or wrong token, text/plain, and a foreign Host; takes the right request', async () => {
    const { url, token, host } = await serve(true)
    const body = JSON.stringify({ action: 'clockSkew', ms: 60_000 })
    const json = { 'content-type': 'application/json' }
    const cases: [string, Record<string, string>, number][] = [
      ['no token', { host, ...json }, 401],
      ['a wrong token', { host, ...json, authorization: `Bearer ${'0'.repeat(64)}` }, 403],
      // A page's "simple" cross-origin POST needs no preflight: text/plain is what it can send.
      ['text/plain', { host, 'content-type': 'text/plain', authorization: `Bearer ${token}` }, 415],
      // DNS rebinding: the page's own name resolves to 127.0.0.1, the Host header keeps the name.
      ['a foreign Host', { host: `evil.example:${new URL(url).port}`, ...json, authorization: `Bearer ${token}` }, 421],
    ]
    for (const [what, headers, status] of cases) {
      const answer = await send(url, 'POST', '/admin/faults', headers, body)
      assert.equal(answer.status, status, `${what}: ${answer.body}`)
      assert.equal(await skew(url), 0, `${what} did not skew the clock`)
    }
    const good = await send(url, 'POST', '/admin/faults', { host, ...json, authorization: `Bearer ${token}` }, body)
    assert.equal(good.status, 200, good.body)
    assert.equal(await skew(url), 60_000)
    clock.offsetMs = 0
  })

  it('has no admin route unless enabled', async () => {
    const { url, token, host } = await serve(false)
    const answer = await send(
      url,
      'POST',
      '/admin/faults',
      { host, 'content-type': 'application/json', authorization: `Bearer ${token}` },
      JSON.stringify({ action: 'clockSkew', ms: 60_000 }),
    )
    assert.equal(answer.status, 404, answer.body)
    assert.equal(await skew(url), 0)
  })
})
