/**
 * The nodes a topology describes and the roles each holds. Dedicated nodes come first, in a
 * fixed order with stable names (validator-<i>, miner-<subnet>-<i>, verifier-<i>, arbiter-<i>,
 * serving-<i>, peer-<subnet>-<i>); then co-located roles (`on`), the aggregator role and the challengers are added
 * to the nodes they name. References that name no node are returned as problems, not thrown,
 * so the loader reports them with every other problem of the file.
 */
import type { FieldPath, FieldProblem } from './problems.ts'
import type { NodeRole } from './roles.ts'
import { type NamedNode, resolveRefs, type Selector } from './selectors.ts'
import type { Topology } from './types.ts'

export interface InventoryNode extends NamedNode {
  readonly roles: Set<NodeRole>
  readonly subnet?: number
  /** Stake at genesis, ur3mes. */
  readonly stake: bigint
  /** The field that sets this node's stake (for error messages); absent for unstaked nodes. */
  readonly stakePath?: FieldPath
  challengeFraction?: number
  /** Inner steps of a checked task re-executed (0: the whole task). */
  spotSteps?: number
}

export const validatorName = (i: number): string => `validator-${i}`
export const minerName = (subnet: number, i: number): string => `miner-${subnet}-${i}`
export const verifierName = (i: number): string => `verifier-${i}`
export const arbiterName = (i: number): string => `arbiter-${i}`
export const servingName = (i: number): string => `serving-${i}`
export const subnetPeerName = (subnet: number, i: number): string => `peer-${subnet}-${i}`

/** Selectors accepted where a field names nodes that exist for the whole run. */
export const GROUP_SELECTORS: readonly Selector[] = [
  'validators',
  'miners',
  'verifiers',
  'arbiters',
  'serving',
  'peers',
  'all',
]

export function nodeInventory(t: Topology): { nodes: InventoryNode[]; problems: FieldProblem[] } {
  const nodes: InventoryNode[] = []
  const problems: FieldProblem[] = []
  t.validators.stakes.forEach((stake, i) => {
    nodes.push({
      name: validatorName(i),
      roles: new Set(['validator']),
      stake,
      stakePath: t.validators.listed ? ['validators', 'stake', i] : ['validators', 'stake'],
    })
  })
  t.subnets.forEach((s, k) => {
    for (let i = 0; i < s.miners; i++) {
      nodes.push({
        name: minerName(k, i),
        roles: new Set(['miner']),
        subnet: k,
        stake: s.minerStake,
        stakePath: ['subnets', k, 'minerStake'],
      })
    }
  })
  for (let i = 0; i < t.verifiers.count; i++) {
    nodes.push({
      name: verifierName(i),
      roles: new Set(['verifier']),
      stake: t.verifiers.stake,
      stakePath: ['verifiers', 'stake'],
    })
  }
  for (let i = 0; i < t.arbiters.count; i++) {
    nodes.push({
      name: arbiterName(i),
      roles: new Set(['arbiter']),
      stake: t.arbiters.stake,
      stakePath: ['arbiters', 'stake'],
    })
  }
  for (let i = 0; i < t.serving.count; i++) nodes.push({ name: servingName(i), roles: new Set(['serving']), stake: 0n })
  t.subnets.forEach((s, k) => {
    for (let i = 0; i < s.peers; i++)
      nodes.push({ name: subnetPeerName(k, i), roles: new Set(['subnet-peer']), subnet: k, stake: 0n })
  })

  const byName = new Map(nodes.map((n) => [n.name, n]))
  const addRole = (names: readonly string[], role: NodeRole): void => {
    for (const name of names) byName.get(name)?.roles.add(role)
  }
  // Co-located roles go only on validators and miners, whose stake and process already exist.
  const hosts = nodes.filter((n) => n.roles.has('validator') || n.roles.has('miner'))
  addRole(
    resolveEach(
      t.verifiers.on,
      ['verifiers', 'on'],
      hosts,
      ['validators', 'miners'],
      nodes,
      'a validator or a miner',
      problems,
    ),
    'verifier',
  )
  addRole(
    resolveEach(
      t.arbiters.on,
      ['arbiters', 'on'],
      hosts,
      ['validators', 'miners'],
      nodes,
      'a validator or a miner',
      problems,
    ),
    'arbiter',
  )
  const validators = nodes.filter((n) => n.roles.has('validator'))
  addRole(
    resolveEach(t.aggregator.on, ['aggregator', 'on'], validators, ['validators'], nodes, 'a validator', problems),
    'aggregator',
  )
  t.challengers.forEach((entry, i) => {
    const names = resolveEach(
      entry.nodes,
      ['challengers', i, 'nodes'],
      nodes,
      GROUP_SELECTORS,
      nodes,
      'a node',
      problems,
    )
    for (const name of names) {
      const node = byName.get(name) as InventoryNode
      node.roles.add('challenger')
      node.challengeFraction = Math.max(node.challengeFraction ?? 0, entry.fraction)
      // A node named by several entries checks as thoroughly as the most thorough (0: the whole task).
      const steps = node.spotSteps
      node.spotSteps =
        steps === undefined ? entry.steps : steps === 0 || entry.steps === 0 ? 0 : Math.max(steps, entry.steps)
    }
  })
  return { nodes, problems }
}

/**
 * Resolve a list of references against every node, one by one so each problem names its
 * index; a name that exists but is not among `candidates` is a problem too.
 */
function resolveEach(
  refs: readonly string[],
  path: FieldPath,
  candidates: readonly InventoryNode[],
  selectors: readonly Selector[],
  all: readonly InventoryNode[],
  what: string,
  problems: FieldProblem[],
): string[] {
  const picked = new Set<string>()
  refs.forEach((ref, index) => {
    const resolved = resolveRefs([ref], all, selectors)
    for (const p of resolved.problems) {
      problems.push({
        path: [...path, index],
        expected: p.expected.replace('a node of this network', what),
        found: p.found,
      })
    }
    for (const name of resolved.names) {
      if (candidates.some((c) => c.name === name)) picked.add(name)
      else
        problems.push({
          path: [...path, index],
          expected: `the name of ${what}`,
          found: `'${name}', which is not ${what}`,
        })
    }
  })
  return all.map((n) => n.name).filter((name) => picked.has(name))
}
