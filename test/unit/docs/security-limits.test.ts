/**
 * docs/SECURITY.md lists every limit of src/runtime/limits.ts with its value. This keeps the
 * two together: a limit added, renamed or changed without its row fails here.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as limits from '../../../src/runtime/limits.ts'

const doc = readFileSync(new URL('../../../docs/SECURITY.md', import.meta.url), 'utf8')

/** A limit's value as the document writes it: bytes in KiB/MiB/GiB where whole, times with their unit. */
function formatLimit(name: string, value: number): string {
  const grouped = (n: number) => n.toLocaleString('en-US').replaceAll(',', ' ')
  if (name.endsWith('_BYTES') || name.includes('_BYTES_')) {
    for (const [unit, size] of [
      ['GiB', 1024 ** 3],
      ['MiB', 1024 ** 2],
      ['KiB', 1024],
    ] as const)
      if (value >= size && value % size === 0) return `${grouped(value / size)} ${unit}`
    return `${grouped(value)} B`
  }
  if (name.endsWith('_MS')) return `${grouped(value)} ms`
  return grouped(value)
}

describe('docs/SECURITY.md and src/runtime/limits.ts', () => {
  const entries = Object.entries(limits).filter((e): e is [string, number] => typeof e[1] === 'number')

  it('has limits to check', () => {
    assert.ok(entries.length > 50, `only ${entries.length} limits found`)
  })

  it('lists every limit with its value', () => {
    const missing = entries
      .map(([name, value]) => `| \`${name}\` | ${formatLimit(name, value)} |`)
      .filter((row) => !doc.replaceAll(/ +\|/g, ' |').includes(row))
    assert.deepEqual(missing, [], 'rows docs/SECURITY.md lacks or gives another value')
  })

  it('lists no limit that is not in the code', () => {
    const names = new Set(entries.map(([name]) => name))
    const listed = [...doc.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string)
    assert.deepEqual(
      listed.filter((n) => !names.has(n)),
      [],
    )
  })
})
