/**
 * The challenger behaviour: check a fraction of other miners' accepted or L1-flagged
 * submissions by re-executing them, and challenge (with the bond) those that do not
 * reproduce. Which submissions a node checks is a hash of the claim and the node's address,
 * so different challengers cover different claims. A griefing challenger (a misbehaviour for
 * tests) challenges what it checks whatever the result.
 */
import { createHash } from 'node:crypto'
import type { Claim } from '../../chain/state.ts'
import type { NodeServices } from '../node-services.ts'
import { type Recheck, reexecute } from './reexecute.ts'
import type { RoleWork } from './role-machine.ts'

export class ChallengerWork implements RoleWork {
  readonly #s: NodeServices
  readonly #fraction: number
  readonly #checked = new Set<string>()
  /** Claims challenged, with the reason. */
  readonly challenged = new Map<string, string>()

  constructor(services: NodeServices, fraction: number) {
    this.#s = services
    this.#fraction = fraction
  }

  #sampled(claimId: string): boolean {
    // Flagged claims are always worth a look; the rest by a stable per-node draw.
    const h = createHash('sha256').update(`r3mes/check/1\0${this.#s.address}\0${claimId}`).digest()
    return h.readUInt32BE(0) / 2 ** 32 < this.#fraction
  }

  async run(height: number, signal: AbortSignal): Promise<void> {
    const s = this.#s
    const current = s.window()
    if (current === null) return
    const p = s.chain.chain.state.params
    const due: Claim[] = []
    for (let id = Math.max(0, current.id - 2); id <= current.id; id++) {
      for (const claim of s.chain.query<Claim[]>(`claims/${id}`)) {
        if (claim.kind !== 'submission' || claim.owner === s.address || this.#checked.has(claim.id)) continue
        const challengeable = claim.status === 'accepted' || (claim.status === 'flagged' && claim.flag === 'mismatch')
        if (!challengeable || height > claim.challengeUntil) continue
        this.#checked.add(claim.id)
        if (claim.status === 'flagged' || this.#sampled(claim.id)) due.push(claim)
      }
    }
    // Re-execute side by side (mostly waiting on fetches), so a claim late in the list is
    // still checked within its challenge period; challenge in the chain's order.
    const griefing = s.misbehaviour.has('griefingChallenger')
    const checks = await Promise.all(
      due.map(async (claim): Promise<Recheck | undefined> => {
        if (griefing) return { honest: false, reason: 'griefing' }
        try {
          return await reexecute(s, claim, s.kernels, signal)
        } catch (error) {
          // Could not check it now (a fetch timed out, say): try again at the next block,
          // while its challenge period lasts.
          this.#checked.delete(claim.id)
          s.c.logger.warn({ err: error, claim: claim.id }, 'could not re-execute a claim')
          return undefined
        }
      }),
    )
    for (const [i, claim] of due.entries()) {
      const check = checks[i]
      if (check === undefined || check.honest) continue
      const r = await s.tx.send({ type: 'challenge', claimId: claim.id, bond: p.baseReward * BigInt(p.bondMultiple) })
      s.metrics.challengesMade++
      this.challenged.set(claim.id, check.reason)
      s.c.logger.info({ claim: claim.id, reason: check.reason, code: r.code }, 'challenged')
    }
  }
}
