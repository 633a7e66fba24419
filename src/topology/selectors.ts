/**
 * Node references: where a field takes nodes it takes their names or selectors, words that
 * stand for a group. `proposer` is resolved only when a fault fires (the proposer of the
 * current height); `rest` only inside a partition (every node named in no other group).
 */
import { closestMatch } from 'leven'
import type { NodeRole } from './roles.ts'

export const SELECTORS = [
  'validators',
  'miners',
  'verifiers',
  'arbiters',
  'serving',
  'peers',
  'all',
  'proposer',
  'rest',
] as const
export type Selector = (typeof SELECTORS)[number]

/** The role each group selector picks. */
const SELECTOR_ROLES: Partial<Record<Selector, NodeRole>> = {
  validators: 'validator',
  miners: 'miner',
  verifiers: 'verifier',
  arbiters: 'arbiter',
  serving: 'serving',
  peers: 'subnet-peer',
}

export function isSelector(ref: string): ref is Selector {
  return (SELECTORS as readonly string[]).includes(ref)
}

export interface NamedNode {
  readonly name: string
  readonly roles: ReadonlySet<NodeRole>
}

export interface RefProblem {
  /** Index of the reference in its list. */
  readonly index: number
  readonly expected: string
  readonly found: string
}

/**
 * Resolve references against `nodes` (in their order, without duplicates). `allowed` lists the
 * selectors this field accepts; `proposer` and `rest` are reported back, not expanded.
 */
export function resolveRefs(
  refs: readonly string[],
  nodes: readonly NamedNode[],
  allowed: readonly Selector[],
): { names: string[]; proposer: boolean; rest: boolean; problems: RefProblem[] } {
  const picked = new Set<string>()
  const problems: RefProblem[] = []
  let proposer = false
  let rest = false
  refs.forEach((ref, index) => {
    if (isSelector(ref)) {
      if (!allowed.includes(ref)) {
        problems.push({
          index,
          expected: expectedRef(allowed),
          found: `the selector '${ref}', which is not allowed here`,
        })
        return
      }
      if (ref === 'proposer') proposer = true
      else if (ref === 'rest') rest = true
      else for (const n of nodes) if (ref === 'all' || n.roles.has(SELECTOR_ROLES[ref] as NodeRole)) picked.add(n.name)
      return
    }
    if (nodes.some((n) => n.name === ref)) {
      picked.add(ref)
      return
    }
    const suggestion = closestMatch(ref, [...nodes.map((n) => n.name), ...allowed], { maxDistance: 3 })
    problems.push({
      index,
      expected: expectedRef(allowed),
      found: `'${ref}', which names no node${suggestion === undefined ? '' : ` (did you mean '${suggestion}'?)`}`,
    })
  })
  return { names: nodes.map((n) => n.name).filter((name) => picked.has(name)), proposer, rest, problems }
}

function expectedRef(allowed: readonly Selector[]): string {
  return allowed.length === 0
    ? 'the name of a node of this network'
    : `the name of a node of this network or one of the selectors ${allowed.join(', ')}`
}
