/**
 * The verifier (L2) and arbiter (L3) roles: answer the challenges this node is selected for
 * by re-executing the disputed stage. Arbiters always use the CPU kernels, so the panel's
 * verdict does not depend on any accelerator. A lazy verifier (a misbehaviour for tests)
 * sides with the miner without looking.
 *
 * A verifier learns whether it is selected for an L2 attempt only by evaluating its VRF ticket
 * over the attempt's input (src/chain/verifier-draw.ts): when selected it claims the seat at
 * once, starts re-executing at once too (in the background), and answers after the claim
 * phase. Once seated it must answer by the deadline, or the chain penalizes it.
 */

import { arbiterProof } from '../../chain/game.ts'
import type { VerifierDraw as VerifierDrawInfo } from '../../chain/reader.ts'
import type { Challenge, Claim } from '../../chain/state.ts'
import { type VerifierTicket, verifierTicket } from '../../chain/verifier-draw.ts'
import type { NodeServices } from '../node-services.ts'
import { reexecute } from './reexecute.ts'
import type { RoleWork } from './role-machine.ts'

function openChallenges(s: NodeServices): Challenge[] {
  return s.chain.query<Challenge[]>('challenges')
}

/** Bound on the attempts a verifier remembers (tickets, claims, verdicts); old ones are forgotten first. */
const MAX_REMEMBERED = 256

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value)
  if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value as string)
}

export class VerifierWork implements RoleWork {
  readonly #s: NodeServices
  readonly #tickets = new Map<string, VerifierTicket>()
  readonly #claimed = new Map<string, true>()
  /** Verdicts by claim: a re-execution is deterministic, so a later attempt of the same challenge reuses it. */
  readonly #verdicts = new Map<string, { honest: boolean; reason: string }>()
  readonly #answered = new Map<string, true>()
  /** Re-executions under way, by claim; they run one after another, behind `#lastCheck`. */
  readonly #checking = new Set<string>()
  #lastCheck: Promise<void> = Promise.resolve()

  constructor(services: NodeServices) {
    this.#s = services
  }

  /**
   * Claims first, for every attempt this node is selected for: a claim phase lasts a couple of
   * blocks, and a claim that waited on a re-execution of another challenge (seconds on a busy
   * machine) came too late, the attempt passed and the seat went unclaimed. Re-executions run
   * in the background, one at a time, earliest deadline first, starting as soon as the node
   * knows it is selected; an answer goes out once the verdict is ready, the node holds the
   * seat and the claim phase is over. `run` itself returns at once, so every block gets its
   * claims pass.
   */
  async run(height: number, signal: AbortSignal): Promise<void> {
    const s = this.#s
    const selected: { d: VerifierDrawInfo; key: string; ticket: VerifierTicket }[] = []
    for (const d of s.chain.reader.verifierDraws(s.address)) {
      const key = `${d.challengeId}/${d.attempt}`
      if (height >= d.deadline || this.#answered.has(key)) continue
      let ticket = this.#tickets.get(key)
      if (ticket === undefined) {
        ticket = verifierTicket(s.key.secretKey, d, BigInt(d.stakes[s.address] ?? '0'), BigInt(d.totalStake), {
          verifierExpectedCount: d.expectedCount,
        })
        remember(this.#tickets, key, ticket)
      }
      if (!ticket.selected) continue
      selected.push({ d, key, ticket })
      // Selected: claim the seat while claims are open (the chain keeps the best ticket).
      if (d.seat !== s.address && height < d.claimUntil && !this.#claimed.has(key)) {
        remember(this.#claimed, key, true)
        void s.tx
          .send({ type: 'verifierClaim', challengeId: d.challengeId, proof: ticket.proof })
          .then((r) =>
            s.c.logger.info(
              { challenge: d.challengeId, attempt: d.attempt, code: r.code },
              'verifier claimed the seat',
            ),
          )
      }
    }
    selected.sort((a, b) => a.d.deadline - b.d.deadline)
    for (const { d, key, ticket } of selected) {
      const check = this.#verdicts.get(d.claimId)
      if (check === undefined) {
        this.#check(d, signal)
        continue
      }
      if (d.seat !== s.address || height < d.claimUntil) continue
      remember(this.#answered, key, true)
      const verdict = check.honest ? 'owner' : 'challenger'
      s.metrics.verdicts++
      void s.tx
        .send({ type: 'verifierResponse', challengeId: d.challengeId, verdict, proof: ticket.proof })
        .then((r) =>
          s.c.logger.info(
            { challenge: d.challengeId, verdict, reason: check.reason, code: r.code },
            'verifier answered',
          ),
        )
    }
  }

  /** Queue the re-execution of the attempt's claim; one that throws is queued again at a later block. */
  #check(d: VerifierDrawInfo, signal: AbortSignal): void {
    const s = this.#s
    const claim = d.claim as Claim | null
    const key = d.claimId
    if (claim === null || this.#checking.has(key)) return
    const run = this.#lastCheck
      .then(async () => {
        if (signal.aborted) return
        const check = s.misbehaviour.has('lazyVerifier')
          ? { honest: true, reason: 'not checked' }
          : await reexecute(s, claim, s.kernels, signal)
        remember(this.#verdicts, key, check)
      })
      .catch((error: unknown) => {
        s.c.logger.warn({ err: error, challenge: d.challengeId, attempt: d.attempt }, 'could not re-execute a claim')
      })
      .finally(() => this.#checking.delete(key))
    this.#checking.add(key)
    this.#lastCheck = run
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
      const claim = s.chain.query<Claim | null>(`claim/${c.claimId}`)
      if (claim === null) continue
      // A re-execution that throws (a fetch timed out) is tried again at the next block.
      const check = await reexecute(s, claim, s.cpuKernels, signal)
      this.#voted.add(key)
      const proof = arbiterProof(s.key.secretKey, c.id, c.panelRound)
      const verdict = check.honest ? 'no_fault' : 'fault'
      const r = await s.tx.send({ type: 'arbiterVote', challengeId: c.id, verdict, proof })
      s.metrics.verdicts++
      s.c.logger.info({ challenge: c.id, verdict, reason: check.reason, code: r.code }, 'arbiter voted')
    }
  }
}
