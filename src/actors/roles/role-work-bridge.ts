/**
 * The verification roles' machines behind the `RoleWork` interface the node hosts today
 * (role-machine.ts): each class builds its role's components from `NodeServices`, starts the
 * role machine once, and hands it every block. `run` returns at once; the machine itself
 * holds the work as states and child actors. This file goes when the node spawns the role
 * machines itself with their components as input.
 */
import { type Actor, type AnyStateMachine, createActor } from 'xstate'
import type { NodeServices } from '../node-services.ts'
import { type AggregatorComponents, aggregatorMachine } from './aggregator.ts'
import { type ArbiterComponents, arbiterMachine } from './arbiter.ts'
import { type ChallengerComponents, challengerMachine } from './challenger.ts'
import type { RoleWork } from './role-machine.ts'
import { type VerifierComponents, verifierMachine } from './verifier.ts'

type RoleComponents = AggregatorComponents &
  ArbiterComponents &
  VerifierComponents &
  Omit<ChallengerComponents, 'challengeFraction'>

function componentsOf(s: NodeServices): RoleComponents {
  return {
    chain: s.chain.reader,
    content: s.content,
    model: s.model,
    training: {
      protocol: s.protocol,
      data: s.data,
      kernels: s.kernels,
      cpuKernels: s.cpuKernels,
    },
    tx: s.tx,
    key: s.key,
    metrics: s.metrics,
    logger: s.c.logger,
    misbehaviours: s.misbehaviour,
  }
}

class HostedRoleMachine<M extends AnyStateMachine> implements RoleWork {
  readonly actor: Actor<M>

  constructor(machine: M, input: unknown) {
    this.actor = createActor(machine, { input } as never).start()
  }

  async run(height: number): Promise<void> {
    this.actor.send({ type: 'block', height } as never)
  }

  stop(): void {
    this.actor.stop()
  }
}

export class AggregatorWork extends HostedRoleMachine<typeof aggregatorMachine> {
  constructor(services: NodeServices) {
    super(aggregatorMachine, componentsOf(services))
  }
}

export class VerifierWork extends HostedRoleMachine<typeof verifierMachine> {
  constructor(services: NodeServices) {
    super(verifierMachine, componentsOf(services))
  }
}

export class ArbiterWork extends HostedRoleMachine<typeof arbiterMachine> {
  constructor(services: NodeServices) {
    super(arbiterMachine, componentsOf(services))
  }
}

export class ChallengerWork extends HostedRoleMachine<typeof challengerMachine> {
  constructor(services: NodeServices, challengeFraction: number) {
    super(challengerMachine, { ...componentsOf(services), challengeFraction })
  }
}
