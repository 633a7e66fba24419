import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { localTestnetParams, UNITS_PER_TOKEN } from '../../src/chain/params.ts'
import {
  MAX_TOPOLOGY_ALIAS_COUNT,
  MAX_TOPOLOGY_EXPANDED_VALUES,
  MAX_TOPOLOGY_FILE_BYTES,
} from '../../src/runtime/limits.ts'
import { SystemClock } from '../../src/runtime/system-clock.ts'
import { toBaseUnits } from '../../src/topology/amount.ts'
import { TopologyError } from '../../src/topology/errors.ts'
import { expandTopology } from '../../src/topology/expand.ts'
import { CHAOS_TOPOLOGY_DIR, DEFAULT_TOPOLOGY_FILE, loadTopology, parseTopology } from '../../src/topology/load.ts'
import { fullTopology, parseData, topologyErrorOf, withField } from './helpers.ts'

const clock = new SystemClock()

const chaosFiles = readdirSync(CHAOS_TOPOLOGY_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => join(CHAOS_TOPOLOGY_DIR, f))

describe('topology loading', () => {
  it('loads the embedded default: 4 validators, 2 subnets of 2 miners on tiny, few processes', async () => {
    const t = await loadTopology(DEFAULT_TOPOLOGY_FILE)
    assert.equal(t.model, 'tiny')
    assert.equal(t.validators.stakes.length, 4)
    assert.deepEqual(
      t.subnets.map((s) => [s.layers, s.miners]),
      [
        [[0, 4], 2],
        [[4, 8], 2],
      ],
    )
    const plan = expandTopology(t)
    const holding = (role: string) => plan.nodes.filter((n) => (n.roles as readonly string[]).includes(role)).length
    assert.equal(holding('verifier'), 1)
    assert.equal(holding('arbiter'), 3)
    assert.equal(holding('serving'), 1)
    assert.ok(plan.nodes.length <= 12, `${plan.nodes.length} processes is more than a 2-core machine should run`)
  })

  it('ships the chaos scenarios the issue asks for, and each loads and expands', async () => {
    const names = chaosFiles.map((f) => f.slice(CHAOS_TOPOLOGY_DIR.length))
    for (const wanted of [
      'kill-restart-validators.yaml',
      'partition-validators.yaml',
      'isolate-proposer.yaml',
      'kill-miner-mid-window.yaml',
      'cheating-miners.yaml',
      'griefing-challenger.yaml',
      'equivocating-validator.yaml',
      'clock-skew.yaml',
    ]) {
      assert.ok(names.includes(wanted), `topology/chaos/${wanted}`)
    }
    for (const file of chaosFiles) {
      const plan = expandTopology(await loadTopology(file))
      assert.ok(plan.nodes.length > 0, file)
      assert.ok(
        plan.faults.length > 0 || plan.nodes.some((n) => n.misbehaviours.length > 0),
        `${file} breaks something`,
      )
    }
  })

  it('the chaos scenarios cover each fault and each cheat the issue names', async () => {
    const plans = await Promise.all(chaosFiles.map(async (f) => expandTopology(await loadTopology(f))))
    const faults = plans.flatMap((p) => p.faults)
    const kinds = new Set(plans.flatMap((p) => p.nodes.flatMap((n) => n.misbehaviours.map((m) => m.kind))))
    for (const kind of [
      'wrongGradient',
      'copiedCid',
      'griefingChallenger',
      'equivocatingValidator',
      'byzantineValidator',
    ]) {
      assert.ok(kinds.has(kind as never), kind)
    }
    const killed = new Set(faults.filter((f) => f.action === 'kill').flatMap((f) => f.nodes))
    for (const v of ['validator-0', 'validator-1', 'validator-2', 'validator-3', 'miner-0-1'])
      assert.ok(killed.has(v), v)
    assert.ok(faults.some((f) => f.action === 'disconnect' && f.proposer))
    assert.ok(faults.some((f) => f.action === 'clockSkew'))
    const partition = faults.find((f) => f.action === 'partition')
    assert.deepEqual(
      partition?.groups?.map((g) => g.filter((n) => n.startsWith('validator-')).length),
      [2, 2],
      'a 2|2 validator partition',
    )
  })

  it('reports every problem at once, in line order, each with file, line, field, expected and found', () => {
    const text = [
      'name: several',
      'seed: -1',
      'subnets:',
      '  - layers: [0, 4]',
      '    minerz: 2',
      'run:',
      '  windows: 0',
    ].join('\n')
    const error = topologyErrorOf(text, 'several.yaml')
    assert.deepEqual(
      error.issues.map((i) => [i.path, i.line]),
      [
        ['seed', 2],
        ['subnets[0].minerz', 5],
        ['run.windows', 7],
      ],
    )
    assert.equal(error.code, 'ERR_TOPOLOGY')
    assert.match(error.message, /several\.yaml \(3 problems\)/)
    assert.match(
      error.message,
      /several\.yaml:5:5: field 'subnets\[0\]\.minerz': expected one of the fields layers, miners, peers, minerStake, found the unknown field 'minerz' \(did you mean 'miners'\?\)/,
    )
    assert.match(error.message, /field 'seed': expected an integer in \[0, \d+\], found -1/)
  })

  it('reports cross-field problems together', () => {
    const data = withField(
      withField(fullTopology(), ['subnets', 1, 'layers'], [3, 7]),
      ['misbehaviours', 0, 'node'],
      'miner-3-0',
    )
    const error = topologyErrorOf(JSON.stringify(data))
    const paths = error.issues.map((i) => i.path)
    assert.ok(paths.includes('subnets[1].layers'), paths.join(' '))
    assert.ok(paths.includes('misbehaviours[0].node'), paths.join(' '))
    assert.match(error.message, /the last subnet to end at layer 8, the depth of the tiny model/)
    assert.match(error.message, /'miner-3-0', which names no node \(did you mean 'miner-0-0'\?\)/)
  })

  it('names the line of a YAML syntax error', () => {
    const error = topologyErrorOf('name: x\nsubnets: [\n  { layers: [0, 8] \n', 'broken.yaml')
    assert.equal(error.issues[0]?.expected, 'valid YAML')
    assert.equal(typeof error.issues[0]?.line, 'number')
  })

  it('refuses a key written twice rather than keep the last, naming the key and its line', () => {
    const error = topologyErrorOf('name: a\nsubnets:\n  - layers: [0, 8]\n    layers: [0, 4]\n', 'twice.yaml')
    assert.equal(error.issues.length, 1)
    assert.deepEqual(error.issues[0], {
      file: 'twice.yaml',
      path: 'subnets[0].layers',
      line: 4,
      column: 5,
      expected: 'each key once in a mapping',
      found: "the key 'layers' a second time",
    })
  })

  describe('hostile YAML: refused quickly with a topology error, never a crash', () => {
    /** Each level lists the one above nine times: 9^levels values from a few hundred bytes. */
    const aliasBomb = (levels: number): string => {
      const lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
      for (let i = 1; i <= levels; i++)
        lines.push(
          `l${i}: &l${i} [${Array(9)
            .fill(`*l${i - 1}`)
            .join(', ')}]`,
        )
      return `${lines.join('\n')}\n`
    }

    it('an alias inside the value its anchor names (a value that contains itself)', () => {
      const error = topologyErrorOf('name: x\nsubnets: &s\n  - layers: [0, 8]\n    miners: *s\n', 'cycle.yaml')
      assert.equal(error.issues.length, 1)
      assert.equal(error.issues[0]?.path, 'subnets[0].miners')
      assert.equal(error.issues[0]?.line, 4)
      assert.equal(error.issues[0]?.column, 13)
      assert.match(error.message, /cycle\.yaml:4:13: field 'subnets\[0\]\.miners': expected an alias outside the value/)
    })

    it('an alias bomb, in well under a second and without expanding it', () => {
      const start = clock.monotonicMs()
      const error = topologyErrorOf(aliasBomb(12), 'bomb.yaml')
      assert.ok(clock.monotonicMs() - start < 1_000, `took ${clock.monotonicMs() - start} ms`)
      assert.equal(error.issues.length, 1)
      assert.equal(
        error.issues[0]?.expected,
        `at most ${MAX_TOPOLOGY_EXPANDED_VALUES} values once aliases are expanded`,
      )
      assert.equal(typeof error.issues[0]?.line, 'number')
    })

    it("an alias to no anchor, and more alias uses than the yaml package's own bound", () => {
      const unresolved = topologyErrorOf('name: *nothing\n')
      assert.equal(unresolved.issues[0]?.path, 'name')
      assert.equal(unresolved.issues[0]?.found, "'*nothing'")
      const many = `name: x\nv: &v 1\nsubnets: [${Array(MAX_TOPOLOGY_ALIAS_COUNT + 1)
        .fill('*v')
        .join(', ')}]\n`
      assert.match(topologyErrorOf(many).issues[0]?.expected ?? '', /at most 100 uses of aliases/)
    })

    it('a file over MAX_TOPOLOGY_FILE_BYTES, from disk or as text', async () => {
      const big = `name: x\n#${'x'.repeat(MAX_TOPOLOGY_FILE_BYTES)}\n`
      assert.match(topologyErrorOf(big).message, /expected a file of at most 1048576 bytes/)
      const dir = await mkdtemp(join(tmpdir(), 'r3mes-topology-big-'))
      try {
        await writeFile(join(dir, 'big.yaml'), big)
        await assert.rejects(loadTopology(join(dir, 'big.yaml')), /expected a file of at most 1048576 bytes/)
      } finally {
        await rm(dir, { recursive: true })
      }
    })
  })

  it('refuses an empty file, naming the missing fields', () => {
    const error = topologyErrorOf('')
    assert.ok(error.issues.some((i) => i.found === 'nothing (the field is missing)'))
  })

  it('refuses a missing file with an error that names it', async () => {
    await assert.rejects(loadTopology('/no/such/topology.yaml'), (error: unknown) => {
      assert.ok(error instanceof TopologyError)
      assert.match(error.message, /\/no\/such\/topology\.yaml/)
      assert.match(error.message, /no such file/)
      return true
    })
  })

  it('reads a file from disk and keeps its path in the topology', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'r3mes-topology-'))
    try {
      const file = join(dir, 'net.yaml')
      await writeFile(file, 'name: net\nsubnets:\n  - layers: [0, 8]\n')
      const t = await loadTopology(file)
      assert.equal(t.file, file)
      assert.equal(t.chain.id, 'r3mes-net')
    } finally {
      await rm(dir, { recursive: true })
    }
  })
})

describe('topology values', () => {
  it('fills every default of a minimal file', () => {
    const t = parseTopology('name: small\nsubnets:\n  - layers: [0, 8]\n', 'small.yaml')
    assert.equal(t.seed, 1)
    assert.equal(t.backend, 'auto')
    assert.equal(t.chain.preset, 'localTestnet')
    assert.deepEqual(t.chain.params, localTestnetParams)
    assert.deepEqual(t.validators.stakes, Array(4).fill(2n * localTestnetParams.minStakeValidator))
    assert.equal(t.subnets[0]?.miners, 2)
    assert.deepEqual(t.challengers, [{ nodes: ['verifiers'], fraction: 1, steps: 2 }])
    assert.deepEqual(t.run, { windows: 3, timeoutMs: 3 * 3 * 10 * 1000 + 120_000, recoveryBlocks: 20 })
  })

  it('converts amounts in R3MES to base units exactly', () => {
    assert.equal(toBaseUnits(20000), 20_000n * UNITS_PER_TOKEN)
    assert.equal(toBaseUnits('0.000001'), 1n)
    assert.equal(toBaseUnits(0.1), 100_000n)
    assert.equal(toBaseUnits('123456789012.5'), 123_456_789_012_500_000n)
  })

  it('overrides chain parameters over the preset, amounts in R3MES', () => {
    const t = parseData(fullTopology())
    assert.equal(t.chain.params.blockTimeMs, 500)
    assert.equal(t.chain.params.windowBlocks, 12)
    assert.equal(t.chain.params.baseReward, 400n * UNITS_PER_TOKEN)
    assert.equal(t.chain.params.minFee, 20_000n)
    assert.equal(t.chain.params.l3DeadlineBlocks, localTestnetParams.l3DeadlineBlocks)
    const production = parseTopology(
      'name: p\nchain: { preset: production }\nsubnets: [{ layers: [0, 8] }]\n',
      'p.yaml',
    )
    assert.equal(production.chain.params.windowBlocks, 100)
    assert.equal(production.run.timeoutMs, 3 * 3 * 100 * 5000 + 120_000, 'the default timeout follows the chain')
  })

  it("applies the chain's own cross-parameter rules under the topology path", () => {
    const data = withField(fullTopology(), ['chain', 'params'], { maxSubmissionBytes: 4000, maxTxBytes: 2048 })
    const error = topologyErrorOf(JSON.stringify(data))
    assert.equal(error.issues[0]?.path, 'chain.params.maxSubmissionBytes')
    assert.match(error.message, /must not exceed maxTxBytes/)
  })

  it('points a chain.params entry that has its own field to that field', () => {
    const data = withField(fullTopology(), ['chain', 'params', 'blockTimeMs'], 300)
    assert.match(topologyErrorOf(JSON.stringify(data)).message, /set it as chain\.blockTimeMs/)
  })

  it('checks the stake of a co-located role against that role minimum', () => {
    const data = withField(fullTopology(), ['arbiters', 'on'], ['validator-1', 'miner-1-0'])
    const error = topologyErrorOf(JSON.stringify(data))
    assert.equal(error.issues[0]?.path, 'subnets[1].minerStake')
    assert.match(error.message, /miner-1-0 holds the arbiter role/)
  })

  it('refuses more nodes than one machine can run', () => {
    const subnets = Array.from({ length: 8 }, (_, k) => ({ layers: [k, k + 1], miners: 17 }))
    const error = topologyErrorOf(JSON.stringify(withField(fullTopology(), ['subnets'], subnets)))
    assert.equal(error.issues[0]?.path, '')
    assert.match(error.message, /the document: expected at most 128 nodes/)
  })
})

describe('fault schedule checks', () => {
  const base = () => parseData(fullTopology())
  const withFaults = (faults: unknown[]) => JSON.stringify(withField(fullTopology(), ['faults'], faults))

  it('accepts the full schedule', () => {
    assert.equal(base().faults.length, 9)
  })

  it('refuses to pause a killed node, resume a running one or kill a killed one', () => {
    const error = topologyErrorOf(
      withFaults([
        { at: { height: 3 }, action: 'kill', targets: ['validator-1'] },
        { at: { height: 4 }, action: 'pause', targets: ['validator-1'] },
        { at: { height: 5 }, action: 'resume', targets: ['validator-2'] },
        { at: { height: 6 }, action: 'kill', targets: ['validators'] },
      ]),
    )
    assert.deepEqual(
      error.issues.map((i) => [i.path, i.found]),
      [
        ['faults[1].targets', 'validator-1, killed by then'],
        ['faults[2].targets', 'validator-2, running by then'],
        ['faults[3].targets', 'validator-1, killed by then'],
      ],
    )
  })

  it('lets restart without targets bring back every killed node', () => {
    const t = parseData(
      withField(
        fullTopology(),
        ['faults'],
        [
          { at: { height: 3 }, action: 'kill', targets: ['miners'] },
          { at: { height: 4 }, action: 'restart' },
          { at: { height: 5 }, action: 'pause', targets: ['miner-0-0'] },
        ],
      ),
    )
    assert.equal(t.faults.length, 3)
  })

  it('refuses partition groups that overlap or leave nodes out, and proposer in a group', () => {
    const error = topologyErrorOf(
      withFaults([
        { at: { height: 3 }, action: 'partition', groups: [['validators'], ['validator-0', 'miners']] },
        { at: { height: 4 }, action: 'partition', groups: [['proposer'], ['rest']] },
      ]),
    )
    const messages = error.issues.map((i) => `${i.path}: ${i.found}`)
    assert.ok(messages.includes('faults[0].groups[1]: validator-0 in groups 0 and 1'), messages.join('\n'))
    assert.ok(
      messages.some((m) => m.startsWith('faults[0].groups: ') && m.includes('verifier-0')),
      messages.join('\n'),
    )
    assert.ok(
      messages.some((m) => m.startsWith("faults[1].groups[0][0]: the selector 'proposer'")),
      messages.join('\n'),
    )
  })

  it('refuses times that go backwards and times past the run timeout', () => {
    const error = topologyErrorOf(
      withFaults([
        { at: { ms: 5000 }, action: 'pause', targets: ['miner-0-0'] },
        { at: { ms: 4000 }, action: 'resume' },
        { at: { ms: 999_999 }, action: 'heal' },
      ]),
    )
    assert.deepEqual(
      error.issues.map((i) => i.path),
      ['faults[1].at.ms', 'faults[2].at.ms'],
    )
  })

  it('refuses a cheat that nothing in the network could catch', () => {
    const data = withField(fullTopology(), ['challengers'], [])
    const error = topologyErrorOf(
      JSON.stringify(withField(data, ['misbehaviours'], [{ node: 'miner-0-1', kind: 'wrongGradient' }])),
    )
    assert.equal(error.issues[0]?.path, 'misbehaviours[0].kind')
    assert.match(error.message, /needs an honest challenger/)
    // A copy is caught by the chain itself, at reveal: no challenger needed.
    const copy = withField(data, ['misbehaviours'], [{ node: 'miner-0-1', kind: 'copiedCid' }])
    assert.equal(parseData(copy).misbehaviours[0]?.kind, 'copiedCid')
  })

  it('refuses a Byzantine validator among fewer than 4 validators, takes it among 4', () => {
    const byzantine = [{ node: 'validator-2', kind: 'byzantineValidator' }]
    const three = withField(
      withField(fullTopology(), ['validators'], { count: 3, stake: 30000 }),
      ['misbehaviours'],
      byzantine,
    )
    const error = topologyErrorOf(JSON.stringify(three))
    assert.equal(error.issues[0]?.path, 'misbehaviours[0].kind')
    assert.match(error.message, /byzantineValidator needs at least 4 validators/)
    const four = withField(fullTopology(), ['misbehaviours'], byzantine)
    assert.equal(parseData(four).misbehaviours[0]?.kind, 'byzantineValidator')
  })
})
