/**
 * Fuzzing topology files (text a user hands to `r3mes testnet` / `r3mes chaos`): arbitrary
 * text, and the shipped topologies damaged line by line, only ever raise TopologyError, and
 * the shipped topologies parse.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { TopologyError } from '../../src/topology/errors.ts'
import { CHAOS_TOPOLOGY_DIR, DEFAULT_TOPOLOGY_FILE, parseTopology } from '../../src/topology/load.ts'
import { fuzzParams, onlyTyped } from './helpers/bytes.ts'

const shipped = [
  DEFAULT_TOPOLOGY_FILE,
  ...readdirSync(CHAOS_TOPOLOGY_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(CHAOS_TOPOLOGY_DIR, f)),
].map((file) => readFileSync(file, 'utf8'))

/** YAML fragments that reach the schema's corners: wrong types, anchors, aliases, huge numbers. */
const fragment = fc.oneof(
  fc.constantFrom(
    '',
    '~',
    '[]',
    '{}',
    '-1',
    '1e999',
    '0x10',
    '.nan',
    '!!binary aGk=',
    '&a [*a]',
    '*nope',
    '<<: *x',
    '"\\u0000"',
    '? [a]\n: b',
    '9007199254740993',
    '- - - - - -',
  ),
  fc.string({ unit: 'binary', maxLength: 20 }),
)

/** A shipped topology with lines dropped, duplicated, or with a value replaced by a fragment. */
const damaged = fc
  .tuple(
    fc.constantFrom(...shipped),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 }), fragment), { minLength: 1, maxLength: 3 }),
  )
  .map(([text, edits]) => {
    const lines = text.split('\n')
    for (const [at, op, value] of edits) {
      const i = at % lines.length
      const line = lines[i] as string
      if (op === 0) lines.splice(i, 1)
      else if (op === 1) lines.splice(i, 0, line)
      else if (op === 2) lines[i] = line.includes(':') ? `${line.slice(0, line.indexOf(':') + 1)} ${value}` : value
      else lines[i] = `${line}${value}`
    }
    return lines.join('\n')
  })

describe('fuzz: topology files (parseTopology)', () => {
  it('raises only TopologyError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fragment), (text) => {
        onlyTyped(() => parseTopology(text, 'fuzz.yaml'), TopologyError)
      }),
      fuzzParams(),
    )
  })

  it('raises only TopologyError on damaged shipped topologies', () => {
    fc.assert(
      fc.property(damaged, (text) => {
        onlyTyped(() => parseTopology(text, 'fuzz.yaml'), TopologyError)
      }),
      fuzzParams({ numRuns: 200 }),
    )
  })

  it('refuses an alias bomb with TopologyError', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]']
    for (let i = 0; i < 8; i++)
      bomb.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(97 + i)}`)
          .join(', ')}]`,
      )
    assert.throws(() => parseTopology(bomb.join('\n'), 'bomb.yaml'), TopologyError)
  })

  it('refuses unresolved and self-referencing aliases with TopologyError', () => {
    // Found by the fuzzer: the yaml library's ReferenceError, and a circular value's TypeError
    // further on, escaped parseTopology.
    for (const text of ['<<: *x', 'name: *nope', '&a [*a]', 'a: &a { b: *a }', 'validators: &v [1, *v]'])
      assert.throws(() => parseTopology(text, 'alias.yaml'), TopologyError, text)
  })

  it('refuses deeply nested YAML with TopologyError', () => {
    for (const depth of [1_000, 20_000]) {
      assert.throws(() => parseTopology(`a: ${'['.repeat(depth)}${']'.repeat(depth)}`, 'deep.yaml'), TopologyError)
      assert.throws(() => parseTopology(`${'- '.repeat(depth)}x`, 'deep.yaml'), TopologyError)
    }
  })

  it('parses every shipped topology', () => {
    for (const text of shipped) parseTopology(text, 'shipped.yaml')
  })
})
