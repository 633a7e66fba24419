/**
 * Where a field is in the YAML text. The loader keeps the parsed document (with its source
 * ranges) beside the plain data, so every problem can name its line; a field that is missing
 * points at the nearest enclosing field that is present.
 */
import { type Document, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml'
import type { FieldPath } from './problems.ts'

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
