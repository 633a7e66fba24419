/** One line that says what a network plan holds, for `r3mes topology check` and run headers. */

import type { NodeRole } from './roles.ts'
import type { NetworkPlan } from './types.ts'

function count(plan: NetworkPlan, role: NodeRole): number {
  return plan.nodes.filter((n) => n.roles.includes(role)).length
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

export function summarizePlan(plan: NetworkPlan): string {
  const t = plan.topology
  const roles = [
    plural(count(plan, 'validator'), 'validator'),
    `${plural(count(plan, 'miner'), 'miner')} in ${plural(t.subnets.length, 'subnet')}`,
    plural(count(plan, 'verifier'), 'verifier'),
    plural(count(plan, 'arbiter'), 'arbiter'),
    `${count(plan, 'serving')} serving`,
    ...(count(plan, 'subnet-peer') > 0 ? [plural(count(plan, 'subnet-peer'), 'subnet peer')] : []),
  ]
  const misbehaving = plan.nodes.filter((n) => n.misbehaviours.length > 0).length
  return [
    `${t.name}: ${plural(plan.nodes.length, 'node')} (${roles.join(', ')})`,
    `${t.model} model`,
    `${plural(t.run.windows, 'window')} of ${t.chain.params.windowBlocks} blocks at ${t.chain.params.blockTimeMs} ms`,
    plural(plan.faults.length, 'fault'),
    `${misbehaving} misbehaving`,
    `seed ${t.seed}`,
  ].join(', ')
}
