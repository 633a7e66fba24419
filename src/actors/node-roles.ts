/**
 * Which machines a node hosts for the roles its configuration names, each with its own
 * components object built from the node's shared pieces: each role declares in its
 * `*Components` interface exactly what it uses, and gets only that. The validator's machine
 * is the consensus actor the chain node runs.
 */
import type { AnyActorLogic } from 'xstate'
import { DEFAULT_CHALLENGE_FRACTION, DEFAULT_SPOT_STEPS, type Misbehaviour } from '../topology/roles.ts'
import type { NodePieces } from './node-pieces.ts'
import { kernelAggregation } from './roles/aggregate-work.ts'
import { type AggregatorComponents, aggregatorMachine } from './roles/aggregator.ts'
import { type ArbiterComponents, arbiterMachine } from './roles/arbiter.ts'
import { type ChallengerComponents, challengerMachine } from './roles/challenger.ts'
import { type KernelTaskWorkComponents, kernelTaskWork, type MinerPresence } from './roles/kernel-task-work.ts'
import { type MinerComponents, minerMachine } from './roles/miner.ts'
import { kernelReexecution } from './roles/reexecute.ts'
import { kernelClaimCheck, spotSecretOf } from './roles/spot-check.ts'
import { type VerifierComponents, verifierMachine } from './roles/verifier.ts'
import { SwappableModelSource } from './serving/model-source.ts'
import { type ServingComponents, servingMachine } from './serving/serving-machine.ts'
import type { SubnetDirectory } from './subnet/subnet-directory.ts'
import { subnetPeerRole } from './subnet/subnet-peer.ts'

/** A machine the node spawns, under the role's name (its id and system id). */
export interface HostedRole {
  readonly name: string
  readonly logic: AnyActorLogic
  readonly input: unknown
}

export interface HostedRoleOptions {
  /** The approved data set's held-out bytes (the serving role evaluates on them). */
  readonly heldOut?: Int32Array
  /** Share of other miners' submissions a challenger re-executes. @default 0.25 */
  readonly challengeFraction?: number
  /** Inner steps of a task a challenger re-executes (0: the whole task). @default DEFAULT_SPOT_STEPS */
  readonly spotSteps?: number
  /** The subnet a subnet peer seeds. */
  readonly subnet?: number
}

export interface HostedRoles {
  readonly hosted: readonly HostedRole[]
  /** The serving role's model source (the completion API reads it), on a node that serves. */
  readonly servingSource: SwappableModelSource | undefined
}

/**
 * The miner's link to its subnet's topics. An announcement that does not go out (no peer on
 * the topic yet, a publish error) is logged and dropped: it is a hint, and a neighbour that
 * missed it still finds the bytes by asking the chain's named holder.
 */
export function minerPresence(subnets: SubnetDirectory, p: NodePieces): MinerPresence {
  const log = p.runtime.logger.child({ role: 'miner' })
  const hint = async (what: string, publish: () => Promise<void>): Promise<void> => {
    await publish().catch((error: unknown) => log.debug({ err: error }, `subnet ${what} announcement not sent`))
  }
  return {
    // Unknown (an empty set: partners as the replica rule has them) for a subnet not joined.
    readyMiners: (subnet, window) =>
      new Set(subnets.subnets.includes(subnet) ? subnets.readyMiners(subnet, window).map((m) => m.address) : []),
    announceReady: (subnet, window, pointer) =>
      hint('presence', () =>
        subnets.announcePresence(subnet, {
          window,
          roles: ['miner'],
          range: p.model.rangeCid(subnet),
          adapter: pointer,
        }),
      ),
    announceHeld: (subnet, window, cids) => hint('holdings', () => subnets.announce(subnet, cids, window)),
  }
}

export function minerComponents(p: NodePieces, presence: MinerPresence = minerPresence(p.subnets, p)): MinerComponents {
  const logger = p.runtime.logger.child({ role: 'miner' })
  const work: KernelTaskWorkComponents = {
    chain: p.reader,
    content: p.content,
    model: p.model,
    training: p.training,
    inbox: p.inbox,
    tensors: p.tensors,
    ...(presence === undefined ? {} : { presence }),
    metrics: p.metrics,
    clock: p.runtime.clock,
    logger,
  }
  return {
    chain: p.reader,
    pace: p.chain,
    tx: p.tx,
    work: kernelTaskWork(work),
    metrics: p.metrics,
    key: p.key,
    clock: p.runtime.clock,
    logger,
    misbehaviours: p.misbehaviours,
  }
}

export function servingComponents(p: NodePieces, heldOut: Int32Array, source: SwappableModelSource): ServingComponents {
  return {
    source,
    chain: p.reader,
    model: p.model,
    training: p.training,
    heldOut,
    logger: p.runtime.logger.child({ role: 'serving' }),
  }
}

/** What the verification roles share: the chain, content, model, training, transactions. */
function verificationComponents(p: NodePieces, role: string) {
  return {
    chain: p.reader,
    content: p.content,
    model: p.model,
    training: p.training,
    tx: p.tx,
    key: p.key,
    metrics: p.metrics,
    logger: p.runtime.logger.child({ role }),
    misbehaviours: p.misbehaviours,
  }
}

export function aggregatorComponents(p: NodePieces): AggregatorComponents {
  const base = verificationComponents(p, 'aggregator')
  return { ...base, aggregation: kernelAggregation(base, p.training.kernels) }
}

export function verifierComponents(p: NodePieces): VerifierComponents {
  const base = verificationComponents(p, 'verifier')
  return { ...base, reexecution: kernelReexecution(base, p.training.kernels), clock: p.runtime.clock }
}

export function arbiterComponents(p: NodePieces): ArbiterComponents {
  const base = verificationComponents(p, 'arbiter')
  // On the CPU kernels: the panel's verdict depends on no accelerator.
  return { ...base, reexecution: kernelReexecution(base, p.training.cpuKernels) }
}

export function challengerComponents(
  p: NodePieces,
  challengeFraction: number,
  spotSteps = DEFAULT_SPOT_STEPS,
): ChallengerComponents {
  const log = p.runtime.logger.child({ role: 'challenger' })
  const base = verificationComponents(p, 'challenger')
  return {
    ...base,
    clock: p.runtime.clock,
    challengeFraction,
    claimCheck: kernelClaimCheck(base, p.training.kernels, { secret: spotSecretOf(p.key.secretKey), steps: spotSteps }),
    // A hint, like the miner's: one that does not go out leaves the bytes to bitswap and the DHT.
    holdings: {
      announceHeld: (subnet, cids) =>
        p.subnets
          .announce(subnet, cids)
          .catch((error: unknown) => log.debug({ err: error }, 'subnet holdings announcement not sent')),
    },
  }
}

export function hostedRoles(
  pieces: NodePieces,
  roles: readonly string[],
  options: HostedRoleOptions = {},
): HostedRoles {
  const hosted: HostedRole[] = []
  const misbehaving = (m: Misbehaviour): boolean => pieces.misbehaviours.has(m)
  if (roles.includes('miner')) hosted.push({ name: 'miner', logic: minerMachine, input: minerComponents(pieces) })
  if (roles.includes('aggregator') || roles.includes('validator'))
    hosted.push({ name: 'aggregator', logic: aggregatorMachine, input: aggregatorComponents(pieces) })
  if (roles.includes('verifier'))
    hosted.push({ name: 'verifier', logic: verifierMachine, input: verifierComponents(pieces) })
  if (roles.includes('arbiter'))
    hosted.push({ name: 'arbiter', logic: arbiterMachine, input: arbiterComponents(pieces) })
  if (roles.includes('challenger') || misbehaving('griefingChallenger') || misbehaving('withholdAndChallenge'))
    hosted.push({
      name: 'challenger',
      logic: challengerMachine,
      input: challengerComponents(pieces, options.challengeFraction ?? DEFAULT_CHALLENGE_FRACTION, options.spotSteps),
    })
  if (roles.includes('subnet-peer'))
    hosted.push({
      name: 'subnet-peer',
      logic: subnetPeerRole({
        directory: pieces.subnets,
        model: pieces.model,
        content: pieces.content,
        pins: pieces.net.content,
        chain: pieces.reader,
        modelSeeders: pieces.modelSeeders,
        logger: pieces.runtime.logger.child({ role: 'subnet-peer' }),
      }),
      // joinSubnets refused a subnet peer without a subnet.
      input: { subnet: options.subnet as number },
    })
  let servingSource: SwappableModelSource | undefined
  if (roles.includes('serving')) {
    servingSource = new SwappableModelSource()
    hosted.push({
      name: 'serving',
      logic: servingMachine,
      input: servingComponents(pieces, options.heldOut ?? new Int32Array(0), servingSource),
    })
  }
  return { hosted, servingSource }
}
