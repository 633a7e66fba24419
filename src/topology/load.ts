/**
 * Loading a topology file: read → YAML → schema → cross-field checks → a typed `Topology`.
 * Every problem found on the way is collected, tied to the file, field path and line, and
 * thrown together as one `TopologyError`, so nothing starts on an invalid file and the user
 * sees every problem at once.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { MAX_YAML_ALIAS_COUNT } from '../runtime/limits.ts'
import { checkTopology } from './checks.ts'
import { TopologyError, type TopologyIssue } from './errors.ts'
import { expectedPhrase, problemsOf } from './issues.ts'
import { type FieldProblem, formatPath } from './problems.ts'
import { resolveTopology } from './resolve.ts'
import { topologySchema } from './schema.ts'
import { parseYaml, positionOf, type YamlSource } from './source.ts'
import type { Topology } from './types.ts'

/** The embedded default network that `r3mes testnet` runs without a file. */
export const DEFAULT_TOPOLOGY_FILE = fileURLToPath(new URL('../../topology/default.yaml', import.meta.url))

/** The chaos scenarios shipped with r3mes. */
export const CHAOS_TOPOLOGY_DIR = fileURLToPath(new URL('../../topology/chaos/', import.meta.url))

export async function loadTopology(file: string): Promise<Topology> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new TopologyError(file, [{ file, path: '', expected: 'a readable topology file', found: reason }])
  }
  return parseTopology(text, file)
}

/** Parse topology text; `file` names it in errors. */
export function parseTopology(text: string, file: string): Topology {
  const source = parseYaml(text)
  if (source.doc.errors.length > 0) {
    throw new TopologyError(
      file,
      source.doc.errors.map((e) => {
        const pos = e.linePos?.[0]
        return {
          file,
          path: '',
          ...(pos === undefined ? {} : { line: pos.line, column: pos.col }),
          expected: 'valid YAML',
          found: (e.message.split('\n')[0] as string).replace(/ at line \d+, column \d+:?$/, ''),
        }
      }),
    )
  }
  let data: unknown
  try {
    data = source.doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT })
  } catch (error) {
    // The yaml library resolves aliases only here, and reports an alias to no anchor, or more
    // alias expansions than the bound (a "billion laughs" file), as a ReferenceError.
    if (!(error instanceof ReferenceError)) throw error
    throw new TopologyError(file, [{ file, path: '', expected: 'valid YAML', found: error.message }])
  }
  if (isCircular(data))
    throw new TopologyError(file, [
      { file, path: '', expected: 'valid YAML', found: 'an anchor aliased inside itself' },
    ])
  const parsed = topologySchema.safeParse(data ?? undefined, { reportInput: true, error: expectedPhrase })
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue) => problemsOf(issue, topologySchema, data))
    throw new TopologyError(file, toIssues(file, source, problems))
  }
  const { topology, problems } = resolveTopology(file, parsed.data)
  // Cross-field checks read the resolved chain parameters (minimum stakes, window length), so
  // they wait until those are valid; every other problem is reported together with theirs.
  if (!problems.some((p) => p.path[0] === 'chain')) problems.push(...checkTopology(topology))
  if (problems.length > 0) throw new TopologyError(file, toIssues(file, source, problems))
  return topology
}

/** Problems tied to their lines, in line order (problems without a line last). */
function toIssues(file: string, source: YamlSource, problems: readonly FieldProblem[]): TopologyIssue[] {
  const issues = problems.map((p): TopologyIssue => {
    const pos = positionOf(source, p.path, p.atKey)
    return {
      file,
      path: formatPath(p.path),
      ...(pos === undefined ? {} : { line: pos.line, column: pos.column }),
      expected: p.expected,
      ...(p.found === undefined ? {} : { found: p.found }),
    }
  })
  return issues.sort((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER))
}

/** Whether `value` contains itself: YAML lets an anchor be aliased inside its own node (`&a [*a]`). */
function isCircular(value: unknown, ancestors = new Set<object>()): boolean {
  if (value === null || typeof value !== 'object') return false
  if (ancestors.has(value)) return true
  ancestors.add(value)
  const found = Object.values(value).some((v) => isCircular(v, ancestors))
  ancestors.delete(value)
  return found
}
