/**
 * The fixture of a suite of attacks: the validator network and a Byzantine peer connected to
 * every node, started once for the suite, the attacker's streams dropped after each test (so
 * one attack's streams do not block the next), both stopped at the end.
 */
import assert from 'node:assert/strict'
import type { NetNode } from '../../src/net/node.ts'
import { at } from '../net/helpers.ts'
import { ByzantinePeer } from './byzantine-peer.ts'
import { startValidatorNetwork, type ValidatorNetwork } from './network.ts'

export interface AttackedNetworkOptions {
  /** The attacker's key and randomness seed. @default ByzantinePeer.start's */
  readonly attackerSeed?: number
  /** Called once the attacker has started, before it connects to any node. */
  readonly onAttackerStarted?: (attacker: ByzantinePeer) => void
}

export interface AttackedNetwork {
  readonly network: ValidatorNetwork
  readonly attacker: ByzantinePeer
  /** The node attacks aim at: validator 0. */
  victim(): NetNode
}

/** Registers the suite's hooks (call it in a `describe` body); the fields are set once `before` ran. */
export function withAttackedNetwork(options: AttackedNetworkOptions = {}): AttackedNetwork {
  let network: ValidatorNetwork | undefined
  let attacker: ByzantinePeer | undefined

  before(async () => {
    network = await startValidatorNetwork()
    attacker = await ByzantinePeer.start(options.attackerSeed)
    options.onAttackerStarted?.(attacker)
    for (const net of network.nets) await attacker.connect(net)
  })
  afterEach(() => attacker?.abortStreams())
  after(async () => {
    await attacker?.stop()
    await network?.stop()
  })

  const started = <T>(value: T | undefined, what: string): T => {
    assert.ok(value !== undefined, `the ${what} is used before the suite's before hook started it`)
    return value
  }
  const attacked: AttackedNetwork = {
    get network() {
      return started(network, 'validator network')
    },
    get attacker() {
      return started(attacker, 'attacker')
    },
    victim: () => at(attacked.network.nets, 0),
  }
  return attacked
}
