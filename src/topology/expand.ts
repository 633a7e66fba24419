/**
 * Expansion: a checked `Topology` → the plan of every node process and every fault, with node
 * references resolved to names. Pure and deterministic: the same topology always gives the same
 * plans in the same order (validators, miners by subnet, verifiers, arbiters, serving nodes),
 * and a node's name depends only on its group and index, so adding a serving node never renames
 * a miner. The topology must have passed the loader's checks; a reference that names no node
 * here is a programming error.
 */
import { assert } from '../runtime/assert.ts'
import { GROUP_SELECTORS, type InventoryNode, nodeInventory } from './inventory.ts'
import { resolveRefs, type Selector } from './selectors.ts'
import type { FaultPlan, LinkConditions, NetworkPlan, NodePlan, Topology } from './types.ts'

export function expandTopology(t: Topology): NetworkPlan {
  const { nodes, problems } = nodeInventory(t)
  assert(problems.length === 0, `topology ${t.file} was not checked: ${problems.map((p) => p.expected).join('; ')}`)
  const links = linkConditions(t, nodes)
  const servingIndex = new Map(nodes.filter((n) => n.roles.has('serving')).map((n, i) => [n.name, i]))
  const plans = nodes.map((n): NodePlan => {
    const port = servingIndex.get(n.name)
    return {
      name: n.name,
      roles: [...n.roles].sort(),
      ...(n.subnet === undefined ? {} : { subnet: n.subnet }),
      stake: n.stake,
      misbehaviours: t.misbehaviours
        .filter((m) => m.node === n.name)
        .map((m) => ({ kind: m.kind, fromWindow: m.fromWindow })),
      ...(n.challengeFraction === undefined ? {} : { challengeFraction: n.challengeFraction }),
      ...(n.spotSteps === undefined ? {} : { spotSteps: n.spotSteps }),
      ...(port === undefined ? {} : { servingPort: t.serving.port === 0 ? 0 : t.serving.port + port }),
      network: links.get(n.name) as LinkConditions,
    }
  })
  return { topology: t, nodes: plans, faults: t.faults.map((f) => expandFault(f, nodes)) }
}

/** Network-wide conditions, then selector overrides, then name overrides (a name wins over its group). */
function linkConditions(t: Topology, nodes: readonly InventoryNode[]): Map<string, LinkConditions> {
  const { delayMs, jitterMs, lossPercent } = t.network
  const out = new Map<string, LinkConditions>(nodes.map((n) => [n.name, { delayMs, jitterMs, lossPercent }]))
  const entries = Object.entries(t.network.nodes)
  const bySelectorFirst = [
    ...entries.filter(([ref]) => (GROUP_SELECTORS as readonly string[]).includes(ref)),
    ...entries.filter(([ref]) => !(GROUP_SELECTORS as readonly string[]).includes(ref)),
  ]
  for (const [ref, override] of bySelectorFirst) {
    for (const name of resolveRefs([ref], nodes, GROUP_SELECTORS).names) {
      const prev = out.get(name) as LinkConditions
      out.set(name, {
        delayMs: override.delayMs ?? prev.delayMs,
        jitterMs: override.jitterMs ?? prev.jitterMs,
        lossPercent: override.lossPercent ?? prev.lossPercent,
      })
    }
  }
  return out
}

const TARGET_SELECTORS: readonly Selector[] = [...GROUP_SELECTORS, 'proposer']

function expandFault(f: Topology['faults'][number], nodes: readonly InventoryNode[]): FaultPlan {
  if (f.action === 'partition') {
    const sides = f.groups.map((g) => resolveRefs(g, nodes, [...GROUP_SELECTORS, 'rest']))
    const named = new Set(sides.flatMap((s) => s.names))
    const groups = sides.map((s) =>
      nodes.map((n) => n.name).filter((name) => s.names.includes(name) || (s.rest && !named.has(name))),
    )
    return { at: f.at, action: f.action, nodes: [], proposer: false, groups }
  }
  const resolved = resolveRefs(f.targets ?? [], nodes, TARGET_SELECTORS)
  assert(resolved.problems.length === 0, `unresolved fault targets ${JSON.stringify(f.targets)}`)
  return {
    at: f.at,
    action: f.action,
    nodes: resolved.names,
    proposer: resolved.proposer,
    ...(f.action === 'clockSkew' ? { skewMs: f.skewMs } : {}),
  }
}
