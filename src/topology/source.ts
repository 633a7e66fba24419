/**
 * Where a field is in the YAML text. The loader keeps the parsed document (with its source
 * ranges) beside the plain data, so every problem can name its line; a field that is missing
 * points at the nearest enclosing field that is present.
 */
import { type Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml'
import type { FieldPath, FieldProblem } from './problems.ts'

export interface YamlSource {
  readonly doc: Document
  readonly lines: LineCounter
}

export function parseYaml(text: string): YamlSource {
  const lines = new LineCounter()
  // uniqueKeys: a key written twice is an error, not a silent override.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true })
  return { doc, lines }
}

/** 1-based line and column of the field at `path` (of its key with `atKey`). */
export function positionOf(
  source: YamlSource,
  path: FieldPath,
  atKey = false,
): { line: number; column: number } | undefined {
  let node: unknown = source.doc.contents
  let offset = rangeStart(node)
  for (let i = 0; i < path.length; i++) {
    const part = path[i]
    const last = i === path.length - 1
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part))
      if (pair === undefined) break
      if (last && atKey) {
        offset = rangeStart(pair.key) ?? offset
        break
      }
      node = pair.value
    } else if (isSeq(node) && typeof part === 'number') {
      node = node.items[part]
    } else break
    offset = rangeStart(node) ?? offset
  }
  if (offset === undefined) return undefined
  const pos = source.lines.linePos(offset)
  return { line: pos.line, column: pos.col }
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range
  return range?.[0]
}

/** A problem found in the YAML source itself, tied to an offset in the text. */
export interface SourceProblem extends FieldProblem {
  readonly offset: number
}

/**
 * The aliases that cannot be turned into data: one to an anchor not set before it, one inside
 * the node its anchor names (a self-reference: the data would be an endless cycle), and the
 * one at which the expanded document would pass `maxExpandedValues` values (an alias bomb, a
 * few lines that expand to billions of values). Counted on the document's nodes, each
 * anchored node once, so a bomb costs no more to find than the file is long.
 */
export function aliasProblems(source: YamlSource, maxExpandedValues: number): SourceProblem[] {
  const anchors = new Map<string, unknown>()
  /** Values each anchored node expands to, once walked. */
  const sizes = new Map<unknown, number>()
  const open = new Set<unknown>()
  const problems: SourceProblem[] = []
  let expanded = 0
  const walk = (node: unknown, path: FieldPath): number => {
    if (problems.length > 0) return 0
    if (isAlias(node)) {
      const offset = rangeStart(node) ?? 0
      const target = anchors.get(node.source)
      if (target === undefined) {
        problems.push({ offset, path, expected: 'an alias to an anchor set above it', found: `'*${node.source}'` })
        return 0
      }
      if (open.has(target)) {
        problems.push({
          offset,
          path,
          expected: 'an alias outside the value its anchor names',
          found: `'*${node.source}' inside '&${node.source}' (a value that contains itself)`,
        })
        return 0
      }
      const size = sizes.get(target) ?? 1
      expanded += size
      if (expanded > maxExpandedValues)
        problems.push({
          offset,
          path,
          expected: `at most ${maxExpandedValues} values once aliases are expanded`,
          found: `'*${node.source}' (${size} values) taking the file past that`,
        })
      return size
    }
    if (++expanded > maxExpandedValues) {
      problems.push({
        offset: rangeStart(node) ?? 0,
        path,
        expected: `at most ${maxExpandedValues} values`,
        found: 'a file with more',
      })
      return 0
    }
    const anchor = (node as Node | null)?.anchor
    if (anchor !== undefined) anchors.set(anchor, node)
    open.add(node)
    let size = 1
    if (isMap(node)) {
      for (const pair of node.items) {
        size += walk(pair.key, path)
        size += walk(pair.value, isScalar(pair.key) ? [...path, String(pair.key.value)] : path)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        size += walk(item, [...path, i])
      })
    }
    open.delete(node)
    if (anchor !== undefined) sizes.set(node, size)
    return size
  }
  walk(source.doc.contents, [])
  return problems
}

/** The path of the mapping key that starts at `offset`, and the key itself (for a key written twice). */
export function keyAt(source: YamlSource, offset: number): { path: FieldPath; key: string } | undefined {
  const search = (node: unknown, path: FieldPath): { path: FieldPath; key: string } | undefined => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined
        if (key !== undefined && rangeStart(pair.key) === offset) return { path: [...path, key], key }
        const found = search(pair.value, key === undefined ? path : [...path, key])
        if (found !== undefined) return found
      }
    } else if (isSeq(node)) {
      for (const [i, item] of node.items.entries()) {
        const found = search(item, [...path, i])
        if (found !== undefined) return found
      }
    }
    return undefined
  }
  return search(source.doc.contents, [])
}
