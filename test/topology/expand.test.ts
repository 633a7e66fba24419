import assert from 'node:assert/strict'
import { expandTopology } from '../../src/topology/expand.ts'
import { DEFAULT_TOPOLOGY_FILE, loadTopology } from '../../src/topology/load.ts'
import { fullTopology, parseData, withField } from './helpers.ts'

const plan = (data = fullTopology()) => expandTopology(parseData(data))
const node = (p: ReturnType<typeof plan>, name: string) => {
  const found = p.nodes.find((n) => n.name === name)
  assert.ok(found, name)
  return found
}

describe('topology expansion', () => {
  it('names nodes by group and index, in a fixed order', () => {
    assert.deepEqual(
      plan().nodes.map((n) => n.name),
      [
        'validator-0',
        'validator-1',
        'validator-2',
        'validator-3',
        'miner-0-0',
        'miner-0-1',
        'miner-1-0',
        'miner-1-1',
        'miner-1-2',
        'verifier-0',
        'arbiter-0',
        'serving-0',
        'serving-1',
      ],
    )
  })

  it('is deterministic: the same file gives the same plan', async () => {
    const a = expandTopology(await loadTopology(DEFAULT_TOPOLOGY_FILE))
    const b = expandTopology(await loadTopology(DEFAULT_TOPOLOGY_FILE))
    assert.deepEqual(a, b)
    assert.deepEqual(plan(), plan())
  })

  it('keeps names stable when other groups grow', () => {
    const before = plan()
    const grown = plan(withField(withField(fullTopology(), ['serving', 'count'], 4), ['verifiers', 'count'], 3))
    for (const n of before.nodes) {
      const same = node(grown, n.name)
      assert.deepEqual(same.roles, n.roles, n.name)
      assert.equal(same.subnet, n.subnet, n.name)
    }
    assert.equal(grown.nodes.length, before.nodes.length + 4)
  })

  it('adds subnet peers per subnet, unstaked and after every other group, and the peers selector names them', () => {
    const before = plan()
    const data = withField(withField(fullTopology(), ['subnets', 1, 'peers'], 2), ['challengers', 2], {
      nodes: ['peers'],
      fraction: 0.5,
    })
    const p = plan(data)
    assert.deepEqual(
      p.nodes.slice(before.nodes.length).map((n) => [n.name, n.roles, n.subnet, n.stake]),
      [
        ['peer-1-0', ['challenger', 'subnet-peer'], 1, 0n],
        ['peer-1-1', ['challenger', 'subnet-peer'], 1, 0n],
      ],
    )
    for (const n of before.nodes) assert.equal(node(p, n.name).subnet, n.subnet, `${n.name} keeps its name and subnet`)
  })

  it('co-locates roles on the nodes named by `on`, aggregator and challengers', () => {
    const p = plan()
    assert.deepEqual(node(p, 'validator-0').roles, ['aggregator', 'challenger', 'validator', 'verifier'])
    assert.deepEqual(node(p, 'validator-1').roles, ['aggregator', 'arbiter', 'validator'])
    assert.deepEqual(node(p, 'validator-3').roles, ['aggregator', 'validator'])
    assert.deepEqual(node(p, 'miner-1-2').roles, ['challenger', 'miner'])
    assert.equal(node(p, 'miner-1-2').challengeFraction, 0.5)
    assert.equal(node(p, 'verifier-0').challengeFraction, 1, 'the verifiers selector includes dedicated verifiers')
    assert.equal(node(p, 'verifier-0').spotSteps, 2, 'a challenger spot-checks 2 inner steps by default')
    assert.equal(node(p, 'miner-1-2').spotSteps, 0, '`steps: all` re-executes the whole task')
  })

  it('gives each node its stake in ur3mes, its subnet and its misbehaviours', () => {
    const p = plan()
    assert.equal(node(p, 'validator-0').stake, 30_000_000_000n)
    assert.equal(node(p, 'validator-1').stake, 20_000_000_000n)
    assert.equal(node(p, 'miner-0-1').stake, 3_000_000_000n)
    assert.equal(node(p, 'miner-1-0').stake, 2n * 1_000_000_000n, 'twice the chain minimum by default')
    assert.equal(node(p, 'serving-0').stake, 0n)
    assert.equal(node(p, 'miner-1-2').subnet, 1)
    assert.equal(node(p, 'validator-0').subnet, undefined)
    assert.deepEqual(node(p, 'miner-0-1').misbehaviours, [{ kind: 'wrongGradient', fromWindow: 1 }])
    assert.deepEqual(node(p, 'miner-0-0').misbehaviours, [])
  })

  it('applies network conditions: network-wide, then selectors, then names', () => {
    const p = plan()
    assert.deepEqual(node(p, 'validator-0').network, { delayMs: 5, jitterMs: 2, lossPercent: 1 })
    assert.deepEqual(node(p, 'miner-1-0').network, { delayMs: 20, jitterMs: 2, lossPercent: 1 })
    assert.deepEqual(node(p, 'miner-0-0').network, { delayMs: 20, jitterMs: 9, lossPercent: 0.5 })
  })

  it('numbers serving ports from the base port, or leaves them to the system', () => {
    assert.deepEqual(
      plan()
        .nodes.filter((n) => n.servingPort !== undefined)
        .map((n) => n.servingPort),
      [8100, 8101],
    )
    const free = plan(withField(fullTopology(), ['serving', 'port'], 0))
    assert.equal(node(free, 'serving-1').servingPort, 0)
  })

  it('resolves fault targets to names, keeps proposer symbolic and fills partition rest', () => {
    const faults = plan().faults
    assert.deepEqual(faults[0], { at: { height: 5 }, action: 'kill', nodes: ['validator-3'], proposer: false })
    assert.deepEqual(faults[3], { at: { height: 12 }, action: 'resume', nodes: [], proposer: false })
    assert.deepEqual(faults[4], { at: { ms: 20000 }, action: 'disconnect', nodes: [], proposer: true })
    assert.deepEqual(faults[5]?.at, { afterMs: 3000 })
    const partition = faults[6]
    assert.deepEqual(partition?.groups?.[0], ['validator-0', 'validator-1'])
    assert.equal(partition?.groups?.[1]?.length, plan().nodes.length - 2)
    assert.ok(!partition?.groups?.[1]?.includes('validator-0'))
    assert.deepEqual(faults[7]?.nodes, ['validator-0', 'validator-1', 'validator-2', 'validator-3'])
    assert.equal(faults[8]?.skewMs, -1500)
  })
})
