/**
 * Checks that span fields: the subnets tile the model's layers, every stake covers the roles
 * its node holds, node references name nodes that exist and have the role they need, planted
 * cheats can be caught, and the fault schedule is in order and consistent (no resuming a node
 * that is not paused, partition sides disjoint and covering every node). Each check adds
 * problems and goes on, so one run of the loader reports all of them.
 */
import { minStakeFor, ROLES } from '../chain/params.ts'
import { modelConfigs } from '../ml/config.ts'
import { formatAmount } from './amount.ts'
import { GROUP_SELECTORS, type InventoryNode, nodeInventory } from './inventory.ts'
import { describeValue, type FieldProblem } from './problems.ts'
import type { NodeRole } from './roles.ts'
import type { MisbehaviourKind } from './schema.ts'
import { resolveRefs, type Selector } from './selectors.ts'
import type { Topology } from './types.ts'

const MIN_ARBITERS = 3
/** A topology runs one process per node on one machine; past this many it is a typo, not a plan. */
export const MAX_NODES = 128

/** The role a node needs for each misbehaviour. */
export const MISBEHAVIOUR_ROLE: Readonly<Record<MisbehaviourKind, NodeRole>> = {
  wrongGradient: 'miner',
  copiedCid: 'miner',
  wrongAggregate: 'aggregator',
  lazyVerifier: 'verifier',
  griefingChallenger: 'challenger',
  equivocatingValidator: 'validator',
  byzantineValidator: 'validator',
  seedGrinder: 'validator',
}

export function checkTopology(t: Topology): FieldProblem[] {
  const { nodes, problems } = nodeInventory(t)
  if (nodes.length > MAX_NODES) {
    problems.push({
      path: [],
      expected: `at most ${MAX_NODES} nodes (one process each on this machine)`,
      found: `${nodes.length} nodes`,
    })
  }
  checkLayers(t, problems)
  checkStakes(t, nodes, problems)
  checkArbiters(nodes, problems)
  checkServing(t, problems)
  checkMisbehaviours(t, nodes, problems)
  checkNetwork(t, nodes, problems)
  checkFaults(t, nodes, problems)
  checkRun(t, problems)
  return problems
}

function checkLayers(t: Topology, problems: FieldProblem[]): void {
  const model = modelConfigs[t.model]
  let expectedFirst = 0
  t.subnets.forEach((s, k) => {
    const [first, end] = s.layers
    if (first !== expectedFirst) {
      problems.push({
        path: ['subnets', k, 'layers'],
        expected:
          k === 0
            ? 'a range starting at layer 0'
            : `a range starting at layer ${expectedFirst}, where subnets[${k - 1}] ends`,
        found: describeValue(s.layers),
      })
    }
    if (end <= first) {
      problems.push({
        path: ['subnets', k, 'layers'],
        expected: 'a non-empty range [first, end) with first < end',
        found: describeValue(s.layers),
      })
    }
    expectedFirst = end
  })
  const last = t.subnets.length - 1
  if (model !== undefined && last >= 0 && expectedFirst !== model.nLayers) {
    problems.push({
      path: ['subnets', last, 'layers'],
      expected: `the last subnet to end at layer ${model.nLayers}, the depth of the ${model.name} model`,
      found: describeValue(t.subnets[last]?.layers),
    })
  }
}

function checkStakes(t: Topology, nodes: readonly InventoryNode[], problems: FieldProblem[]): void {
  const reported = new Set<string>()
  for (const node of nodes) {
    if (node.stakePath === undefined) continue
    for (const role of ROLES) {
      if (!node.roles.has(role)) continue
      const least = minStakeFor(t.chain.params, role)
      const key = `${node.stakePath.join('.')}/${role}`
      if (node.stake >= least || reported.has(key)) continue
      reported.add(key)
      problems.push({
        path: node.stakePath,
        expected: `at least ${formatAmount(least)}: ${node.name} holds the ${role} role (chain minStake${role[0]?.toUpperCase()}${role.slice(1)})`,
        found: formatAmount(node.stake),
      })
    }
  }
}

function checkArbiters(nodes: readonly InventoryNode[], problems: FieldProblem[]): void {
  const arbiters = nodes.filter((n) => n.roles.has('arbiter')).length
  if (arbiters > 0 && arbiters < MIN_ARBITERS) {
    problems.push({
      path: ['arbiters'],
      expected: `no arbiters or at least ${MIN_ARBITERS} (an L3 panel has 3 members)`,
      found: `${arbiters} arbiter${arbiters === 1 ? '' : 's'}`,
    })
  }
}

function checkServing(t: Topology, problems: FieldProblem[]): void {
  const { port, count } = t.serving
  if (port !== 0 && port + count - 1 > 65_535) {
    problems.push({
      path: ['serving', 'port'],
      expected: `a port such that port + ${count - 1} (the last serving node's) is at most 65535`,
      found: String(port),
    })
  }
}

function checkMisbehaviours(t: Topology, nodes: readonly InventoryNode[], problems: FieldProblem[]): void {
  const seen = new Set<string>()
  // A node is dishonest in a duty only where its misbehaviour is: a validator that aggregates
  // wrongly still verifies, judges and challenges honestly.
  const cheatingAt = (kind: MisbehaviourKind): Set<string> =>
    new Set(t.misbehaviours.filter((m) => m.kind === kind).map((m) => m.node))
  const griefers = cheatingAt('griefingChallenger')
  const lazy = cheatingAt('lazyVerifier')
  const honestChallengers = nodes.filter((n) => n.roles.has('challenger') && !griefers.has(n.name))
  const arbiters = nodes.filter((n) => n.roles.has('arbiter')).length
  const honestVerifiers = nodes.filter((n) => n.roles.has('verifier') && !lazy.has(n.name))
  const verifiers = honestVerifiers.length
  t.misbehaviours.forEach((m, i) => {
    const resolved = resolveRefs([m.node], nodes, [])
    const node = nodes.find((n) => n.name === m.node)
    if (node === undefined) {
      for (const p of resolved.problems)
        problems.push({ path: ['misbehaviours', i, 'node'], expected: p.expected, found: p.found })
      return
    }
    const role = MISBEHAVIOUR_ROLE[m.kind]
    if (!node.roles.has(role)) {
      problems.push({
        path: ['misbehaviours', i, 'node'],
        expected: `a ${role} (${m.kind} needs one)`,
        found: `'${m.node}', whose roles are ${[...node.roles].sort().join(', ')}`,
      })
    }
    const key = `${m.node}/${m.kind}`
    if (seen.has(key)) {
      problems.push({
        path: ['misbehaviours', i],
        expected: `each node and kind once`,
        found: `${m.node} ${m.kind} a second time`,
      })
    }
    seen.add(key)
    if (m.fromWindow >= t.run.windows) {
      problems.push({
        path: ['misbehaviours', i, 'fromWindow'],
        expected: `a window the run reaches: less than run.windows (${t.run.windows})`,
        found: String(m.fromWindow),
      })
    }
    // A cheat nothing can catch would make the chaos check "every planted cheat caught" fail
    // for a reason that lies in the file, not in the network: refuse it here. (A copied CID
    // needs no one: the chain flags it at reveal, and a flagged copy earns nothing.)
    // A cheat is caught by others: a node does not challenge or judge its own claims.
    const challengersBesides = honestChallengers.filter((n) => n.name !== m.node).length
    const verifiersBesides = honestVerifiers.filter((n) => n.name !== m.node).length
    const recomputed = m.kind === 'wrongGradient' || m.kind === 'wrongAggregate'
    if (recomputed && (challengersBesides === 0 || verifiersBesides === 0 || arbiters < MIN_ARBITERS)) {
      problems.push({
        path: ['misbehaviours', i, 'kind'],
        expected: `a cheat the network can catch: ${m.kind} needs an honest challenger, an honest verifier and at least ${MIN_ARBITERS} arbiters besides the cheat`,
        found: `${challengersBesides} honest challengers, ${verifiersBesides} honest verifiers and ${arbiters} arbiters`,
      })
    }
    if (m.kind === 'griefingChallenger' && verifiers === 0) {
      problems.push({
        path: ['misbehaviours', i, 'kind'],
        expected: 'a cheat the network can catch: griefingChallenger needs an honest verifier to answer its challenges',
        found: 'no honest verifier',
      })
    }
    if (m.kind === 'equivocatingValidator' && t.validators.stakes.length < 2) {
      problems.push({
        path: ['misbehaviours', i, 'kind'],
        expected: 'a cheat the network can catch: equivocatingValidator needs another validator to report it',
        found: '1 validator',
      })
    }
    // BFT tolerates f Byzantine validators of 3f + 1: one needs three honest others to outvote it.
    if (m.kind === 'byzantineValidator' && t.validators.stakes.length < 4) {
      problems.push({
        path: ['misbehaviours', i, 'kind'],
        expected: 'a fault the network can survive: byzantineValidator needs at least 4 validators (3 honest)',
        found: `${t.validators.stakes.length} validators`,
      })
    }
    // Its proposals fail: the others must hold more than 2/3 of the power to commit without it.
    if (m.kind === 'seedGrinder' && t.validators.stakes.length < 4) {
      problems.push({
        path: ['misbehaviours', i, 'kind'],
        expected: 'a fault the network can survive: seedGrinder needs at least 4 validators (3 honest)',
        found: `${t.validators.stakes.length} validators`,
      })
    }
  })
}

function checkNetwork(t: Topology, nodes: readonly InventoryNode[], problems: FieldProblem[]): void {
  for (const key of Object.keys(t.network.nodes)) {
    for (const p of resolveRefs([key], nodes, GROUP_SELECTORS).problems) {
      problems.push({ path: ['network', 'nodes', key], expected: p.expected, found: p.found, atKey: true })
    }
  }
}

const TARGET_SELECTORS: readonly Selector[] = [...GROUP_SELECTORS, 'proposer']
const PARTITION_SELECTORS: readonly Selector[] = [...GROUP_SELECTORS, 'rest']

type NodeState = 'running' | 'paused' | 'killed'

function checkFaults(t: Topology, nodes: readonly InventoryNode[], problems: FieldProblem[]): void {
  const state = new Map<string, NodeState>(nodes.map((n) => [n.name, 'running']))
  let lastHeight = 0
  let lastMs = 0
  t.faults.forEach((f, i) => {
    if ('height' in f.at) {
      if (f.at.height < lastHeight) {
        problems.push({
          path: ['faults', i, 'at', 'height'],
          expected: `a height ≥ ${lastHeight}, the previous height fault's (faults fire in file order)`,
          found: String(f.at.height),
        })
      }
      lastHeight = Math.max(lastHeight, f.at.height)
    } else if ('ms' in f.at) {
      if (f.at.ms < lastMs) {
        problems.push({
          path: ['faults', i, 'at', 'ms'],
          expected: `a time ≥ ${lastMs} ms, the previous timed fault's (faults fire in file order)`,
          found: String(f.at.ms),
        })
      }
      if (f.at.ms > t.run.timeoutMs) {
        problems.push({
          path: ['faults', i, 'at', 'ms'],
          expected: `a time within run.timeoutMs (${t.run.timeoutMs} ms)`,
          found: String(f.at.ms),
        })
      }
      lastMs = Math.max(lastMs, f.at.ms)
    }
    if (f.action === 'partition') {
      checkPartition(f.groups, i, nodes, problems)
      return
    }
    if (f.targets === undefined) {
      // The defaults of resume and restart act on every paused or killed node.
      for (const [name, before] of state) {
        if ((f.action === 'resume' && before === 'paused') || (f.action === 'restart' && before === 'killed'))
          state.set(name, 'running')
      }
      return
    }
    const allowed = f.action === 'resume' || f.action === 'heal' ? GROUP_SELECTORS : TARGET_SELECTORS
    const resolved = resolveRefs(f.targets, nodes, allowed)
    for (const p of resolved.problems)
      problems.push({ path: ['faults', i, 'targets', p.index], expected: p.expected, found: p.found })
    if (resolved.problems.length === 0 && resolved.names.length === 0 && !resolved.proposer) {
      problems.push({ path: ['faults', i, 'targets'], expected: 'at least one node', found: describeValue(f.targets) })
    }
    for (const name of resolved.names) {
      const before = state.get(name) as NodeState
      const wrong = transitionProblem(f.action, before)
      // A refused step leaves the node as it was, so one mistake is reported once.
      if (wrong !== undefined) {
        problems.push({
          path: ['faults', i, 'targets'],
          expected: `${wrong} when faults[${i}] fires`,
          found: `${name}, ${before} by then`,
        })
      } else state.set(name, nextState(f.action, before))
    }
  })
}

/** What a node must be before `action`, or undefined when any state will do. */
function transitionProblem(action: string, before: NodeState): string | undefined {
  if (action === 'kill' && before === 'killed') return 'a node that is not already killed'
  if (action === 'pause' && before !== 'running') return 'a running node'
  if (action === 'resume' && before !== 'paused') return 'a paused node'
  if ((action === 'disconnect' || action === 'clockSkew') && before === 'killed') return 'a node that is not killed'
  return undefined
}

function nextState(action: string, before: NodeState): NodeState {
  if (action === 'kill') return 'killed'
  if (action === 'pause') return 'paused'
  if (action === 'resume' || action === 'restart') return 'running'
  return before
}

function checkPartition(
  groups: readonly (readonly string[])[],
  i: number,
  nodes: readonly InventoryNode[],
  problems: FieldProblem[],
): void {
  const owner = new Map<string, number>()
  let restGroup: number | undefined
  groups.forEach((group, g) => {
    const resolved = resolveRefs(group, nodes, PARTITION_SELECTORS)
    for (const p of resolved.problems)
      problems.push({ path: ['faults', i, 'groups', g, p.index], expected: p.expected, found: p.found })
    if (resolved.rest) {
      if (restGroup !== undefined) {
        problems.push({
          path: ['faults', i, 'groups', g],
          expected: 'the selector rest in one group only',
          found: `rest in groups ${restGroup} and ${g}`,
        })
      }
      restGroup = g
    }
    for (const name of resolved.names) {
      const other = owner.get(name)
      if (other !== undefined && other !== g) {
        problems.push({
          path: ['faults', i, 'groups', g],
          expected: 'groups that share no node',
          found: `${name} in groups ${other} and ${g}`,
        })
      }
      owner.set(name, g)
    }
    if (resolved.problems.length === 0 && resolved.names.length === 0 && !resolved.rest) {
      problems.push({
        path: ['faults', i, 'groups', g],
        expected: 'a group of at least one node',
        found: describeValue(group),
      })
    }
  })
  const unplaced = nodes.filter((n) => !owner.has(n.name)).map((n) => n.name)
  if (restGroup === undefined && unplaced.length > 0) {
    problems.push({
      path: ['faults', i, 'groups'],
      expected: 'every node in one group (add the selector rest to one group for the nodes not named)',
      found: `${unplaced.join(', ')} in no group`,
    })
  }
  if (restGroup !== undefined && unplaced.length === 0) {
    problems.push({
      path: ['faults', i, 'groups', restGroup],
      expected: 'rest to stand for at least one node',
      found: 'every node already named in a group',
    })
  }
}

function checkRun(t: Topology, problems: FieldProblem[]): void {
  const { windowBlocks, blockTimeMs } = t.chain.params
  const leastMs = t.run.windows * windowBlocks * blockTimeMs
  if (leastMs > t.run.timeoutMs) {
    problems.push({
      path: ['run', 'timeoutMs'],
      expected: `at least ${leastMs} ms: ${t.run.windows} windows of ${windowBlocks} blocks at ${blockTimeMs} ms a block`,
      found: String(t.run.timeoutMs),
    })
  }
}
