/**
 * The node API's transaction routes over real HTTP: `POST /tx` runs the chain's own check (a
 * real `ChainApp` on a small genesis) and relays only what passes; `GET /tx/<id>` answers from
 * the bounded index of recent results the node fills as blocks execute. The backend here is
 * the test's own (no network); node-api-backend.ts over a running node is exercised by
 * test/cli/tx-query.test.ts.
 */
import assert from 'node:assert/strict'
import { NodeApi, type NodeApiBackend, type NodeFaults } from '../../src/actors/node-api.ts'
import { RecentTxResults } from '../../src/actors/recent-tx-results.ts'
import { ChainApp } from '../../src/chain/app.ts'
import { localTestnetGenesis } from '../../src/chain/genesis.ts'
import { testKey } from '../../src/chain/keys.ts'
import { encodeTx, type Msg } from '../../src/chain/tx.ts'
import { toHex } from '../../src/codec/bytes.ts'
import { sha256Hex } from '../../src/codec/hash.ts'
import { packCanonical } from '../../src/codec/msgpack.ts'
import { createRuntimeComponents } from '../../src/runtime/components.ts'
import { MAX_HTTP_BODY_BYTES } from '../../src/runtime/limits.ts'
import { SkewedClock } from '../../src/runtime/skewed-clock.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'

const clock = new SkewedClock(new SystemClock())
const CHAIN_ID = 'r3mes-tx-api-test'
const validator = testKey('tx-api-validator')
const alice = testKey('tx-api-alice')
const bob = testKey('tx-api-bob')
const stranger = testKey('tx-api-stranger')

interface ErrorBody {
  readonly error: { readonly message: string; readonly param: string | null; readonly code: string | null }
}

describe('node API: POST /tx and GET /tx/<id>', function () {
  this.timeout(30_000)
  const components = createRuntimeComponents({ name: 'node-api-tx-test', clock, logLevel: 'silent' })
  const app = new ChainApp(localTestnetGenesis({ chainId: CHAIN_ID, validators: [validator], funded: [alice] }))
  const results = new RecentTxResults(2)
  const relayed: Uint8Array[] = []
  const noFaults: NodeFaults = {
    block: async () => {},
    disconnect: async () => {},
    heal: async () => {},
    setDelay: () => {},
    setLoss: () => {},
  }
  const backend: NodeApiBackend = {
    chainId: CHAIN_ID,
    status: () => ({ height: app.height }),
    events: () => [],
    height: () => app.height,
    history: () => undefined,
    query: (path) => app.query(path),
    submitTx: async (tx) => {
      const txId = sha256Hex(tx)
      const check = app.checkTx(tx, { record: false })
      if (!check.ok) return { txId, ...check }
      relayed.push(tx)
      return { txId, code: 'OK', log: '' }
    },
    txResult: (txId) => results.get(txId),
    faults: noFaults,
    clock,
  }
  let api: NodeApi
  let url = ''

  /** Execute the relayed transactions as the next block, recording their results as a node does. */
  function commitBlock(): void {
    const height = app.height + 1
    const txs = relayed.splice(0)
    const outcome = app.executeBlock({
      height,
      timeMs: 1000 * height,
      proposer: validator.address,
      hash: new Uint8Array(Buffer.from(sha256Hex(`block ${height}`), 'hex')),
      beacon: new Uint8Array(Buffer.from(sha256Hex(`beacon ${height}`), 'hex')),
      txs,
      evidence: [],
    })
    txs.forEach((tx, i) => {
      const r = outcome.results[i]
      if (r !== undefined) results.record({ txId: sha256Hex(tx), height, ...r })
    })
  }

  const sign = (msg: Msg, nonce = app.state.accounts.get(alice.address)?.nonce ?? 0, fee = 10_000n, key = alice) =>
    encodeTx({ chainId: CHAIN_ID, nonce, fee, msg }, key)
  const post = (body: unknown): Promise<Response> =>
    fetch(`${url}/tx`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  before(async () => {
    api = new NodeApi({ backend, components })
    url = await api.listen()
  })
  after(async () => {
    await api?.close()
  })

  it('shows the chain id in /status', async () => {
    const status = (await (await fetch(`${url}/status`)).json()) as { chainId: string }
    assert.equal(status.chainId, CHAIN_ID)
  })

  it('admits and relays a valid transaction; GET /tx/<id> shows where it landed', async () => {
    const tx = sign({ type: 'transfer', to: bob.address, amount: 5_000_000n })
    const answer = await post({ tx: toHex(tx) })
    assert.equal(answer.status, 200)
    const body = (await answer.json()) as { txId: string; code: string; log: string }
    assert.deepEqual(body, { txId: sha256Hex(tx), code: 'OK', log: '' })
    assert.equal(relayed.length, 1, 'relayed once')

    const before = await fetch(`${url}/tx/${body.txId}`)
    assert.deepEqual([before.status, ((await before.json()) as ErrorBody).error.code], [404, 'unknown_tx'])
    commitBlock()
    const landed = await fetch(`${url}/tx/${body.txId}`)
    assert.equal(landed.status, 200)
    assert.deepEqual(await landed.json(), { txId: body.txId, height: 1, code: 'OK', log: '' })
    assert.equal(app.state.accounts.get(bob.address)?.balance, 5_000_000n, 'the transfer really executed')
  })

  it('refuses with the chain code and log, and relays nothing of a refused transaction', async () => {
    const cases: [string, Uint8Array, string, RegExp][] = [
      ['fee below the minimum', sign({ type: 'stake', amount: 1n }, undefined, 1n), 'ERR_FEE_TOO_LOW', /below 10000/],
      [
        'a stale nonce',
        sign({ type: 'transfer', to: bob.address, amount: 1n }, 0),
        'ERR_WRONG_NONCE',
        /account expects 1/,
      ],
      [
        'an unknown account',
        sign({ type: 'transfer', to: bob.address, amount: 1n }, 0, 10_000n, stranger),
        'ERR_UNKNOWN_ACCOUNT',
        /no account/,
      ],
      [
        'another chain',
        encodeTx({ chainId: 'other', nonce: 1, fee: 10_000n, msg: { type: 'stake', amount: 1n } }, alice),
        'ERR_WRONG_CHAIN',
        /chain other/,
      ],
      [
        'bytes that are no transaction',
        new TextEncoder().encode('{"hello":1}'),
        'ERR_TX_DECODE',
        /not canonical msgpack/,
      ],
      ['a map that is no transaction', packCanonical({ hello: 1 }), 'ERR_INVALID_FIELD', /unknown field 'tx.hello'/],
    ]
    for (const [what, tx, code, log] of cases) {
      const answer = await post({ tx: toHex(tx) })
      assert.equal(answer.status, 422, what)
      const body = (await answer.json()) as { txId: string; code: string; log: string }
      assert.equal(body.code, code, what)
      assert.match(body.log, log, what)
      assert.equal(body.txId, sha256Hex(tx), what)
    }
    assert.equal(relayed.length, 0, 'nothing refused was relayed')
  })

  it('answers a bad body with a 400 naming what is wrong', async () => {
    const cases: [unknown, string][] = [
      [{}, 'tx: is required'],
      [{ tx: 12 }, 'tx: must be a string of hex, got number'],
      [{ tx: '' }, 'tx: must hold the hex'],
      [{ tx: 'abc' }, 'tx: must be lowercase hex of whole bytes'],
      [{ tx: 'ABCD' }, 'tx: must be lowercase hex of whole bytes'],
      [[1, 2], 'request body must be a JSON object'],
    ]
    for (const [body, message] of cases) {
      const answer = await post(body)
      assert.equal(answer.status, 400, JSON.stringify(body))
      assert.ok(((await answer.json()) as ErrorBody).error.message.startsWith(message), JSON.stringify(body))
    }
    const notJson = await fetch(`${url}/tx`, { method: 'POST', body: 'tx=00' })
    assert.deepEqual([notJson.status, ((await notJson.json()) as ErrorBody).error.code], [400, 'invalid_json'])
    assert.equal(relayed.length, 0)
  })

  it('refuses a body over MAX_HTTP_BODY_BYTES with 413 before checking anything', async () => {
    const answer = await post({ tx: '00'.repeat(MAX_HTTP_BODY_BYTES) })
    assert.equal(answer.status, 413)
    assert.equal(relayed.length, 0)
  })

  it('answers GET /tx/<id> 400 for what is not an id, and forgets the oldest past its bound', async () => {
    const bad = await fetch(`${url}/tx/xyz`)
    assert.deepEqual([bad.status, ((await bad.json()) as ErrorBody).error.code], [400, 'invalid_tx_id'])
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const tx = sign({ type: 'transfer', to: bob.address, amount: 1n })
      ids.push(((await (await post({ tx: toHex(tx) })).json()) as { txId: string }).txId)
      commitBlock()
    }
    const statuses = await Promise.all(ids.map(async (id) => (await fetch(`${url}/tx/${id}`)).status))
    assert.deepEqual(statuses, [404, 200, 200], 'an index of 2 keeps the last 2')
  })

  it('changes nothing through any other public method', async () => {
    const heightBefore = app.height
    for (const [method, path] of [
      ['PUT', '/tx'],
      ['DELETE', '/tx/00'],
      ['POST', '/query/account'],
      ['POST', '/status'],
    ] as const) {
      const answer = await fetch(`${url}${path}`, { method, body: method === 'DELETE' ? null : '{}' })
      assert.ok([404, 405].includes(answer.status), `${method} ${path}: ${answer.status}`)
    }
    assert.equal(app.height, heightBefore)
    assert.equal((await fetch(`${url}/admin/faults`, { method: 'POST', body: '{}' })).status, 404, 'no admin')
  })
})
