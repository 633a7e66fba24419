/**
 * Loading a topology file: read → YAML → schema → cross-field checks → a typed `Topology`.
 * Every problem found on the way is collected, tied to the file, field path and line, and
 * thrown together as one `TopologyError`, so nothing starts on an invalid file and the user
 * sees every problem at once.
 */
import { readFile, stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { MAX_TOPOLOGY_ALIAS_COUNT, MAX_TOPOLOGY_EXPANDED_VALUES, MAX_TOPOLOGY_FILE_BYTES } from '../runtime/limits.ts'
import { checkTopology } from './checks.ts'
import { TopologyError, type TopologyIssue } from './errors.ts'
import { expectedPhrase, problemsOf } from './issues.ts'
import { type FieldProblem, formatPath } from './problems.ts'
import { resolveTopology } from './resolve.ts'
import { topologySchema } from './schema.ts'
import { aliasProblems, keyAt, parseYaml, positionOf, type SourceProblem, type YamlSource } from './source.ts'
import type { Topology } from './types.ts'

/** The embedded default network that `r3mes testnet` runs without a file. */
export const DEFAULT_TOPOLOGY_FILE = fileURLToPath(new URL('../../topology/default.yaml', import.meta.url))

/** The chaos scenarios shipped with r3mes. */
export const CHAOS_TOPOLOGY_DIR = fileURLToPath(new URL('../../topology/chaos/', import.meta.url))

export async function loadTopology(file: string): Promise<Topology> {
  let text: string
  try {
    const { size } = await stat(file)
    if (size > MAX_TOPOLOGY_FILE_BYTES) throw new TopologyError(file, [tooLarge(file, size)])
    text = await readFile(file, 'utf8')
  } catch (error) {
    if (error instanceof TopologyError) throw error
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new TopologyError(file, [{ file, path: '', expected: 'a readable topology file', found: reason }])
  }
  return parseTopology(text, file)
}

/** Parse topology text; `file` names it in errors. */
export function parseTopology(text: string, file: string): Topology {
  const sizeBytes = Buffer.byteLength(text)
  if (sizeBytes > MAX_TOPOLOGY_FILE_BYTES) throw new TopologyError(file, [tooLarge(file, sizeBytes)])
  const source = parseYaml(text)
  if (source.doc.errors.length > 0) {
    throw new TopologyError(
      file,
      source.doc.errors.map((e) => {
        const pos = e.linePos?.[0]
        const where = pos === undefined ? {} : { line: pos.line, column: pos.col }
        const duplicate = e.code === 'DUPLICATE_KEY' ? keyAt(source, e.pos[0]) : undefined
        if (duplicate !== undefined)
          return {
            file,
            path: formatPath(duplicate.path),
            ...where,
            expected: 'each key once in a mapping',
            found: `the key '${duplicate.key}' a second time`,
          }
        return {
          file,
          path: '',
          ...where,
          expected: 'valid YAML',
          found: (e.message.split('\n')[0] as string).replace(/ at line \d+, column \d+:?$/, ''),
        }
      }),
    )
  }
  // Aliases are checked on the document before it becomes data: a self-reference would be a
  // cyclic value, and a bomb would be expanded in full before any bound applied to it.
  const badAliases = aliasProblems(source, MAX_TOPOLOGY_EXPANDED_VALUES)
  if (badAliases.length > 0)
    throw new TopologyError(
      file,
      badAliases.map((p) => sourceIssue(file, source, p)),
    )
  let data: unknown
  try {
    data = source.doc.toJS({ maxAliasCount: MAX_TOPOLOGY_ALIAS_COUNT })
  } catch (error) {
    // The yaml package's alias errors are ReferenceErrors (its alias count, an unresolved alias).
    if (!(error instanceof ReferenceError)) throw error
    throw new TopologyError(file, [
      { file, path: '', expected: `at most ${MAX_TOPOLOGY_ALIAS_COUNT} uses of aliases`, found: error.message },
    ])
  }
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

function tooLarge(file: string, sizeBytes: number): TopologyIssue {
  return {
    file,
    path: '',
    expected: `a file of at most ${MAX_TOPOLOGY_FILE_BYTES} bytes`,
    found: `${sizeBytes} bytes`,
  }
}

function sourceIssue(file: string, source: YamlSource, problem: SourceProblem): TopologyIssue {
  const pos = source.lines.linePos(problem.offset)
  return {
    file,
    path: formatPath(problem.path),
    line: pos.line,
    column: pos.col,
    expected: problem.expected,
    ...(problem.found === undefined ? {} : { found: problem.found }),
  }
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
