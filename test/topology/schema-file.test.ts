import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { parse } from 'yaml'
import { COMMITTED_SCHEMA_FILE, topologyJsonSchema, topologyJsonSchemaText } from '../../src/topology/json-schema.ts'
import { CHAOS_TOPOLOGY_DIR, DEFAULT_TOPOLOGY_FILE } from '../../src/topology/load.ts'
import { fullTopology, withField } from './helpers.ts'

describe('topology JSON Schema', () => {
  it('the committed topology/schema.json matches the schema (regenerate: r3mes topology schema --out topology/schema.json)', async () => {
    const committed = await readFile(COMMITTED_SCHEMA_FILE, 'utf8')
    assert.equal(committed, topologyJsonSchemaText())
  })

  it('documents every field', () => {
    const undocumented: string[] = []
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return
      const s = node as Record<string, unknown>
      for (const [key, child] of Object.entries((s.properties as Record<string, unknown>) ?? {})) {
        const description = (child as { description?: unknown }).description
        if (typeof description !== 'string' || description.length < 10) undocumented.push(`${path}${key}`)
        walk(child, `${path}${key}.`)
      }
      for (const key of ['items', 'additionalProperties']) walk(s[key], `${path}[].`)
      for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems']) {
        if (Array.isArray(s[key])) for (const option of s[key] as unknown[]) walk(option, path)
      }
    }
    walk(topologyJsonSchema(), '')
    assert.deepEqual(undocumented, [])
  })

  it('closes every object to unknown fields, as the loader does', () => {
    const open: string[] = []
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return
      const s = node as Record<string, unknown>
      if (s.type === 'object' && s.properties !== undefined && s.additionalProperties !== false) open.push(path)
      for (const [key, child] of Object.entries((s.properties as Record<string, unknown>) ?? {}))
        walk(child, `${path}.${key}`)
      for (const key of ['items', 'additionalProperties']) walk(s[key], `${path}[]`)
      for (const key of ['anyOf', 'oneOf', 'allOf']) {
        if (Array.isArray(s[key])) for (const option of s[key] as unknown[]) walk(option, path)
      }
    }
    walk(topologyJsonSchema(), '')
    assert.deepEqual(open, [])
  })

  it('lets an editor accept every shipped file and flag a bad field', async () => {
    const validate = new Ajv2020({ allErrors: true, strict: false }).compile(topologyJsonSchema())
    const files = [
      DEFAULT_TOPOLOGY_FILE,
      ...readdirSync(CHAOS_TOPOLOGY_DIR)
        .filter((f) => f.endsWith('.yaml'))
        .map((f) => join(CHAOS_TOPOLOGY_DIR, f)),
    ]
    for (const file of files) {
      assert.ok(validate(parse(await readFile(file, 'utf8'))), `${file}: ${JSON.stringify(validate.errors)}`)
    }
    assert.ok(validate(fullTopology()), JSON.stringify(validate.errors))
    assert.equal(validate(withField(fullTopology(), ['subnets', 0, 'minerz'], 2)), false)
    assert.equal(validate.errors?.[0]?.instancePath, '/subnets/0')
  })
})
