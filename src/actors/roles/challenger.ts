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
    // L1 disagreements first (most likely a fault), then the claims whose challenge period
    // ends soonest. Two at a time: re-execution is mostly compute, and challenging each
    // mismatch as soon as it is found beats finding them all together, late.
    due.sort(
      (a, b) => Number(b.status === 'flagged') - Number(a.status === 'flagged') || a.challengeUntil - b.challengeUntil,
    )
    const griefing = s.misbehaviour.has('griefingChallenger')
    const check = async (claim: Claim): Promise<void> => {
      let result: Recheck
      try {
        result = griefing ? { honest: false, reason: 'griefing' } : await reexecute(s, claim, s.kernels, signal)
      } catch (error) {
        // Could not check it now (a fetch timed out, say): try again at the next block,
        // while its challenge period lasts.
        this.#checked.delete(claim.id)
        s.c.logger.warn({ err: error, claim: claim.id }, 'could not re-execute a claim')
        return
      }
      if (result.honest) return
      const r = await s.tx.send({ type: 'challenge', claimId: claim.id, bond: p.baseReward * BigInt(p.bondMultiple) })
      s.metrics.challengesMade++
      this.challenged.set(claim.id, result.reason)
      s.c.logger.info({ claim: claim.id, reason: result.reason, code: r.code }, 'challenged')
    }
    let next = 0
    const worker = async (): Promise<void> => {
      for (let claim = due[next++]; claim !== undefined; claim = due[next++]) await check(claim)
    }
    await Promise.all([worker(), worker()])
  }
}
