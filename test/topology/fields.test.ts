/**
 * Every field of the topology format, given a bad value, is refused with an error that names
 * that field (and its line). The list of fields comes from the exported JSON Schema, so a new
 * field without a case here fails the completeness test.
 */
import assert from 'node:assert/strict'
import { stringify } from 'yaml'
import { defaultParams, PARAM_NAMES } from '../../src/chain/params.ts'
import { topologyJsonSchema } from '../../src/topology/json-schema.ts'
import { CHAIN_LEVEL_PARAMS } from '../../src/topology/schema.ts'
import { fullTopology, parseData, topologyErrorOf, withField } from './helpers.ts'

interface BadCase {
  /** Where to put the bad value in the full topology. */
  readonly set: readonly (string | number)[]
  readonly value: unknown
  /** The field path the error must name (default: `set` written as a path). */
  readonly names?: string
}

/** Field (as the schema names it, `[]` for list entries, `{}` for map values) → a bad value. */
const cases: Record<string, BadCase> = {
  name: { set: ['name'], value: 'Has Spaces' },
  description: { set: ['description'], value: 42 },
  seed: { set: ['seed'], value: -3 },
  model: { set: ['model'], value: 'gpt-5' },
  backend: { set: ['backend'], value: 'tpu' },
  chain: { set: ['chain'], value: 'fast' },
  'chain.id': { set: ['chain', 'id'], value: 'Bad_Id' },
  'chain.preset': { set: ['chain', 'preset'], value: 'mainnet' },
  'chain.blockTimeMs': { set: ['chain', 'blockTimeMs'], value: 0 },
  'chain.windowBlocks': { set: ['chain', 'windowBlocks'], value: 1 },
  'chain.params': { set: ['chain', 'params'], value: [1, 2] },
  validators: { set: ['validators'], value: 4 },
  'validators.count': { set: ['validators', 'count'], value: 3, names: 'validators.stake' },
  'validators.stake': {
    set: ['validators', 'stake'],
    value: [30000, 20000, 'lots', 20000],
    names: 'validators.stake[2]',
  },
  subnets: { set: ['subnets'], value: [] },
  'subnets[].layers': { set: ['subnets', 1, 'layers'], value: [4, 8] },
  'subnets[].miners': { set: ['subnets', 0, 'miners'], value: 0 },
  'subnets[].peers': { set: ['subnets', 0, 'peers'], value: 17 },
  'subnets[].minerStake': { set: ['subnets', 0, 'minerStake'], value: 999 },
  verifiers: { set: ['verifiers'], value: ['validator-0'] },
  'verifiers.count': { set: ['verifiers', 'count'], value: 1.5 },
  'verifiers.on': { set: ['verifiers', 'on'], value: ['serving-0'], names: 'verifiers.on[0]' },
  'verifiers.stake': { set: ['verifiers', 'stake'], value: 100 },
  arbiters: { set: ['arbiters'], value: true },
  'arbiters.count': { set: ['arbiters', 'count'], value: 0, names: 'arbiters' },
  'arbiters.on': { set: ['arbiters', 'on'], value: 'validator-1' },
  'arbiters.stake': { set: ['arbiters', 'stake'], value: '1.2345678' },
  aggregator: { set: ['aggregator'], value: 'validator-0' },
  'aggregator.on': { set: ['aggregator', 'on'], value: ['miner-0-0'], names: 'aggregator.on[0]' },
  serving: { set: ['serving'], value: 2 },
  'serving.count': { set: ['serving', 'count'], value: 17 },
  'serving.port': { set: ['serving', 'port'], value: 65535 },
  challengers: { set: ['challengers'], value: { nodes: ['verifiers'] } },
  'challengers[].nodes': { set: ['challengers', 1, 'nodes'], value: ['miner-9-9'], names: 'challengers[1].nodes[0]' },
  'challengers[].fraction': { set: ['challengers', 0, 'fraction'], value: 0 },
  'challengers[].steps': { set: ['challengers', 1, 'steps'], value: 'some' },
  misbehaviours: { set: ['misbehaviours'], value: 'none' },
  'misbehaviours[].node': { set: ['misbehaviours', 0, 'node'], value: 'validator-1' },
  'misbehaviours[].kind': { set: ['misbehaviours', 0, 'kind'], value: 'lazyMiner' },
  'misbehaviours[].fromWindow': { set: ['misbehaviours', 0, 'fromWindow'], value: 3 },
  network: { set: ['network'], value: 'lossy' },
  'network.delayMs': { set: ['network', 'delayMs'], value: -1 },
  'network.jitterMs': { set: ['network', 'jitterMs'], value: 'a bit' },
  'network.lossPercent': { set: ['network', 'lossPercent'], value: 101 },
  'network.nodes': {
    set: ['network', 'nodes', 'miner-7-0'],
    value: { delayMs: 1 },
    names: 'network.nodes["miner-7-0"]',
  },
  'network.nodes{}.delayMs': { set: ['network', 'nodes', 'miners', 'delayMs'], value: 60001 },
  'network.nodes{}.jitterMs': {
    set: ['network', 'nodes', 'miner-0-0', 'jitterMs'],
    value: 0.5,
    names: 'network.nodes["miner-0-0"].jitterMs',
  },
  'network.nodes{}.lossPercent': {
    set: ['network', 'nodes', 'miner-0-0', 'lossPercent'],
    value: -0.1,
    names: 'network.nodes["miner-0-0"].lossPercent',
  },
  faults: { set: ['faults'], value: { at: { height: 1 } } },
  'faults[].at': { set: ['faults', 0, 'at'], value: { block: 5 } },
  'faults[].at.height': { set: ['faults', 1, 'at', 'height'], value: 4 },
  'faults[].at.ms': { set: ['faults', 6, 'at', 'ms'], value: 19999 },
  'faults[].at.afterMs': { set: ['faults', 5, 'at', 'afterMs'], value: -5 },
  'faults[].action': { set: ['faults', 0, 'action'], value: 'explode' },
  'faults[].targets': { set: ['faults', 2, 'targets'], value: [] },
  'faults[].groups': {
    set: ['faults', 6, 'groups'],
    value: [['validator-0'], ['validator-1']],
    names: 'faults[6].groups',
  },
  'faults[].skewMs': { set: ['faults', 8, 'skewMs'], value: 3_600_001 },
  run: { set: ['run'], value: 3 },
  'run.windows': { set: ['run', 'windows'], value: 0 },
  'run.timeoutMs': { set: ['run', 'timeoutMs'], value: 5000 },
  'run.recoveryBlocks': { set: ['run', 'recoveryBlocks'], value: 'soon' },
}

// Chain parameters: every one is a field too. Integers below every parameter's least bound,
// amounts that are not amounts.
for (const name of PARAM_NAMES) {
  if ((CHAIN_LEVEL_PARAMS as readonly string[]).includes(name)) continue
  cases[`chain.params.${name}`] = {
    set: ['chain', 'params', name],
    value: typeof defaultParams[name] === 'bigint' ? 'ten' : -1,
  }
}

/** Every field path the JSON Schema declares, with `[]` for list entries and `{}` for map values. */
function schemaFields(schema: unknown, prefix = ''): Set<string> {
  const out = new Set<string>()
  const walk = (node: unknown, path: string): void => {
    if (node === null || typeof node !== 'object') return
    const s = node as Record<string, unknown>
    for (const [key, child] of Object.entries((s.properties as Record<string, unknown>) ?? {})) {
      const p = path === '' ? key : `${path}.${key}`
      out.add(p)
      walk(child, p)
    }
    if (typeof s.items === 'object') walk(s.items, `${path}[]`)
    if (typeof s.additionalProperties === 'object') walk(s.additionalProperties, `${path}{}`)
    for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems']) {
      if (Array.isArray(s[key])) for (const option of s[key] as unknown[]) walk(option, path)
    }
  }
  walk(schema, prefix)
  return out
}

function pathText(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
}

describe('topology fields', () => {
  it('the full topology used as the base of these cases is valid', () => {
    const t = parseData(fullTopology())
    assert.equal(t.name, 'full')
  })

  it('has a bad-value case for every field the schema declares', () => {
    const fields = [...schemaFields(topologyJsonSchema())].sort()
    const missing = fields.filter((f) => !Object.hasOwn(cases, f))
    assert.deepEqual(missing, [], 'fields without a bad-value case')
    const stale = Object.keys(cases).filter((c) => !fields.includes(c))
    assert.deepEqual(stale, [], 'cases for fields the schema does not have')
  })

  for (const [field, bad] of Object.entries(cases)) {
    it(`refuses a bad ${field}, naming the field and its line`, () => {
      const text = stringify(withField(fullTopology(), bad.set, bad.value))
      const error = topologyErrorOf(text, 'bad.yaml')
      const names = bad.names ?? pathText(bad.set)
      const issue = error.issues.find((i) => i.path === names)
      assert.ok(issue, `no issue names ${names}; got:\n${error.message}`)
      assert.equal(issue.file, 'bad.yaml')
      assert.equal(typeof issue.line, 'number', `the issue for ${names} has a line`)
      assert.ok(issue.expected.length > 0)
      assert.match(
        error.message,
        new RegExp(`bad\\.yaml:${issue.line}:\\d+: field '${names.replace(/[[\]().*?"]/g, '\\$&')}'`),
      )
    })
  }
})
