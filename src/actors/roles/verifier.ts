/**
 * The verifier (L2) and arbiter (L3) roles: answer the challenges this node is selected for
 * by re-executing the disputed stage. Arbiters always use the CPU kernels, so the panel's
 * verdict does not depend on any accelerator. A lazy verifier (a misbehaviour for tests)
 * sides with the miner without looking.
 */

import { arbiterAlpha, verifierAlpha } from '../../chain/game.ts'
import { toHex } from '../../chain/keys.ts'
import type { Challenge, Claim } from '../../chain/state.ts'
import { vrfProve } from '../../chain/vrf.ts'
import type { NodeServices } from '../node-services.ts'
import { reexecute } from './reexecute.ts'
import type { RoleWork } from './role-machine.ts'

function openChallenges(s: NodeServices): Challenge[] {
  return s.chain.query<Challenge[]>('challenges')
}

export class VerifierWork implements RoleWork {
  readonly #s: NodeServices
  readonly #answered = new Set<string>()

  constructor(services: NodeServices) {
    this.#s = services
  }

  async run(height: number, signal: AbortSignal): Promise<void> {
    const s = this.#s
    for (const c of openChallenges(s)) {
      const key = `${c.id}/${c.attempt}`
      if (c.stage !== 'l2' || c.verifier !== s.address || height > c.deadline || this.#answered.has(key)) continue
      this.#answered.add(key)
      const claim = s.chain.query<Claim | null>(`claim/${c.claimId}`)
      if (claim === null) continue
      const check = s.misbehaviour.has('lazyVerifier')
        ? { honest: true, reason: 'not checked' }
        : await reexecute(s, claim, s.kernels, signal)
      const proof = toHex(vrfProve(s.key.secretKey, verifierAlpha(c.id, c.attempt)))
      const verdict = check.honest ? 'owner' : 'challenger'
      const r = await s.tx.send({ type: 'verifierResponse', challengeId: c.id, verdict, proof })
      s.metrics.verdicts++
      s.c.logger.info({ challenge: c.id, verdict, reason: check.reason, code: r.code }, 'verifier answered')
    }
  }
}

export class ArbiterWork implements RoleWork {
  readonly #s: NodeServices
  readonly #voted = new Set<string>()

  constructor(services: NodeServices) {
    this.#s = services
  }

  async run(height: number, signal: AbortSignal): Promise<void> {
    const s = this.#s
    for (const c of openChallenges(s)) {
      const key = `${c.id}/${c.panelRound}`
      if (c.stage !== 'l3' || !c.panel.includes(s.address) || height > c.deadline || this.#voted.has(key)) continue
      if (c.votes[s.address] !== undefined) continue
      this.#voted.add(key)
      const claim = s.chain.query<Claim | null>(`claim/${c.claimId}`)
      if (claim === null) continue
      const check = await reexecute(s, claim, s.cpuKernels, signal)
      const proof = toHex(vrfProve(s.key.secretKey, arbiterAlpha(c.id, c.panelRound)))
      const verdict = check.honest ? 'no_fault' : 'fault'
      const r = await s.tx.send({ type: 'arbiterVote', challengeId: c.id, verdict, proof })
      s.metrics.verdicts++
      s.c.logger.info({ challenge: c.id, verdict, reason: check.reason, code: r.code }, 'arbiter voted')
    }
  }
}
