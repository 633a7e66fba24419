/**
 * What `r3mes chaos` checks once a network has run its fault schedule and settled, read from
 * the nodes themselves over their HTTP APIs:
 *
 * - agreement: no two nodes committed different blocks at any height (safety);
 * - app hashes: every node's application state hash agrees per height (determinism);
 * - conservation: every node's chain audit finds the token supply conserved;
 * - acknowledged submissions: every reveal a miner was told succeeded is on chain;
 * - cheats slashed: every planted cheat was caught the way the rules say it is; a scenario that
 *   plants wrong aggregates fails unless at least one was challenged and convicted;
 * - honest not slashed: no node without a planted misbehaviour lost stake beyond the duty
 *   penalties a late verifier or arbiter, or an aggregator that left out work it could have
 *   fetched, pays (at most 5%);
 * - withheld content: no honest verifier or arbiter was penalized in a challenge of a claim
 *   whose owner withholds its content (passes trivially when nobody withholds, fails when a
 *   withholder's claims were never disputed);
 * - recovery: after the last fault, and after every heal, restart or resume, the chain
 *   committed `recoveryBlocks` more blocks within the bound;
 * - served models clean: no adapter state a serving node loaded comes from a slashed aggregate
 *   or has a slashed submission in it or in the states it was built on;
 * - slashed aggregates redone: every (window, subnet) whose aggregate was slashed was
 *   aggregated again, unless no honest aggregator was drawn within its attempts or the run
 *   ended while the redo was still within its deadline;
 * - beacons: every committed block's beacon is its proposer's VRF output over the previous
 *   beacon (none forged, none chosen), recomputed from the headers the nodes serve, and the
 *   chain committed at least a window's worth of such blocks.
 *
 * Each check names what broke, so a failed run says which invariant and where.
 */
import { consensusGenesis } from '../actors/chain-node.ts'
import { ChainApp } from '../chain/app.ts'
import type { Genesis as ChainGenesis } from '../chain/genesis.ts'
import { addressOf } from '../chain/keys.ts'
import type { Aggregation, Challenge, Claim } from '../chain/state.ts'
import { bytesEqual, fromHex, toHex } from '../codec/bytes.ts'
import { vrfVerify } from '../codec/vrf.ts'
import { BEACON_SIZE_BYTES, beaconAlpha, genesisBeacon, nextBeacon } from '../consensus/beacon.ts'
import type { FaultRecord, Testnet } from './testnet.ts'

export interface InvariantResult {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

interface HistoryEntry {
  readonly height: number
  readonly blockHash: string
  readonly appHash: string
}

const pass = (name: string, detail: string): InvariantResult => ({ name, ok: true, detail })
const fail = (name: string, detail: string): InvariantResult => ({ name, ok: false, detail })

/** Same block and same app hash at every height, over every pair of nodes that committed it. */
export function checkAgreement(histories: ReadonlyMap<string, readonly HistoryEntry[]>): InvariantResult[] {
  const blocks = new Map<number, { node: string; hash: string }>()
  const apps = new Map<number, { node: string; hash: string }>()
  const forks: string[] = []
  const diverged: string[] = []
  let heights = 0
  for (const [node, history] of histories) {
    for (const e of history) {
      const b = blocks.get(e.height)
      if (b === undefined) {
        blocks.set(e.height, { node, hash: e.blockHash })
        heights++
      } else if (b.hash !== e.blockHash)
        forks.push(`height ${e.height}: ${b.node} has ${b.hash.slice(0, 12)}, ${node} has ${e.blockHash.slice(0, 12)}`)
      const a = apps.get(e.height)
      if (a === undefined) apps.set(e.height, { node, hash: e.appHash })
      else if (a.hash !== e.appHash)
        diverged.push(`height ${e.height}: ${a.node} has ${a.hash.slice(0, 12)}, ${node} has ${e.appHash.slice(0, 12)}`)
    }
  }
  const nodes = histories.size
  return [
    forks.length === 0
      ? pass('agreement', `${heights} heights, ${nodes} nodes: one block per height`)
      : fail('agreement', `different blocks committed: ${forks.slice(0, 5).join('; ')}`),
    diverged.length === 0
      ? pass('app hashes', `${heights} heights, ${nodes} nodes: one app hash per height`)
      : fail('app hashes', `application states diverged: ${diverged.slice(0, 5).join('; ')}`),
  ]
}

/** One committed height's beacon as `GET /chain/history` serves it (hex). */
export interface BeaconEntry {
  readonly height: number
  /** The proposer's chain address (r3mes1…). */
  readonly proposer: string
  readonly beacon: string
  readonly vrfProof: string
  readonly proposerKey: string
}

/** The beacon before height 1, from the chain genesis as every node derives it. */
export function chainGenesisBeacon(genesis: ChainGenesis): Uint8Array {
  return genesisBeacon(consensusGenesis(genesis), new ChainApp(genesis).appHash())
}

/**
 * Every committed block's beacon verifies: the proposer key is the proposer's consensus key
 * (from `consensusKeys`, address → hex key; a proposer not listed there must be one whose
 * account key is its consensus key), its VRF proof
 * verifies over the previous beacon (the genesis beacon before height 1), and the beacon is
 * the one derived from that output. Each distinct block is checked once, on every node's
 * history; and the chain must have committed at least `minHeights` heights, all checked.
 */
export function checkBeacons(
  histories: ReadonlyMap<string, readonly BeaconEntry[]>,
  genesis: Uint8Array,
  minHeights: number,
  consensusKeys: ReadonlyMap<string, string> = new Map(),
): InvariantResult {
  const forged: string[] = []
  const checked = new Map<string, boolean>()
  let top = 0
  for (const [node, history] of histories) {
    const byHeight = new Map(history.map((e) => [e.height, e]))
    // A node that restarted from a chain-state snapshot serves the heights after it only: its
    // first height's beacon is checked against the previous one where another node serves it.
    const first = history.reduce((low, e) => Math.min(low, e.height), Number.POSITIVE_INFINITY)
    for (const e of history) {
      const previous = e.height === 1 ? genesis : fromHex(byHeight.get(e.height - 1)?.beacon, BEACON_SIZE_BYTES)
      if (previous === undefined && e.height === first) continue
      if (previous === undefined) {
        forged.push(`${node} height ${e.height}: the previous block's beacon is not served`)
        continue
      }
      const key = `${e.height}/${e.beacon}/${e.vrfProof}/${e.proposerKey}/${toHex(previous)}`
      let ok = checked.get(key)
      if (ok === undefined) {
        const proposerKey = fromHex(e.proposerKey, 32)
        const proof = fromHex(e.vrfProof)
        const beacon = fromHex(e.beacon, BEACON_SIZE_BYTES)
        const output =
          proposerKey === undefined || proof === undefined
            ? undefined
            : vrfVerify(proposerKey, beaconAlpha(previous), proof)
        ok =
          proposerKey !== undefined &&
          (consensusKeys.get(e.proposer) ?? toHex(proposerKey)) === e.proposerKey &&
          (consensusKeys.has(e.proposer) || addressOf(proposerKey) === e.proposer) &&
          output !== undefined &&
          beacon !== undefined &&
          bytesEqual(beacon, nextBeacon(previous, output))
        checked.set(key, ok)
      }
      if (!ok) forged.push(`${node} height ${e.height} (proposer ${e.proposer})`)
      else top = Math.max(top, e.height)
    }
  }
  if (forged.length > 0) return fail('beacons', `beacons that do not verify: ${forged.slice(0, 5).join('; ')}`)
  if (top < minHeights)
    return fail('beacons', `the chain made no progress: ${top} heights committed, at least ${minHeights} expected`)
  return pass('beacons', `${checked.size} committed blocks up to height ${top}: every beacon its proposer's VRF output`)
}

/**
 * Recovery after faults: for the last fault and every fault that restores (heal, restart,
 * resume), the highest committed height must reach the height at the fault plus
 * `recoveryBlocks` within `boundMs` of it. `samples` are (elapsed ms, highest height) pairs.
 */
export function checkRecovery(
  faults: readonly FaultRecord[],
  samples: readonly { atMs: number; height: number }[],
  recoveryBlocks: number,
  boundMs: number,
): InvariantResult {
  const restoring = faults.filter(
    (f, i) => i === faults.length - 1 || ['heal', 'restart', 'resume'].includes(f.fault.action),
  )
  if (restoring.length === 0) return pass('recovery', 'no faults scheduled')
  const late: string[] = []
  const times: number[] = []
  for (const f of restoring) {
    const target = f.heightAtFire + recoveryBlocks
    const reached = samples.find((s) => s.atMs >= f.firedAtMs && s.height >= target)
    if (reached === undefined || reached.atMs - f.firedAtMs > boundMs)
      late.push(
        `${f.fault.action} at height ${f.heightAtFire}: ${reached === undefined ? 'never reached' : `reached only after ${Math.round(reached.atMs - f.firedAtMs)} ms`} height ${target}`,
      )
    else times.push(reached.atMs - f.firedAtMs)
  }
  return late.length === 0
    ? pass(
        'recovery',
        `${restoring.length} faults: ${recoveryBlocks} more blocks within ${Math.round(Math.max(...times))} ms at worst (bound ${boundMs} ms)`,
      )
    : fail('recovery', `not recovered within ${boundMs} ms: ${late.join('; ')}`)
}

/**
 * No honest verifier or arbiter penalized for content its owner withheld: in every challenge
 * of a withholder's claim, no honest node is among the verifiers that held a seat and did not
 * answer (`tried`) nor the arbiters that missed a round (`penalized`).
 */
export function checkWithheldPenalties(
  challenges: readonly Challenge[],
  claims: readonly Claim[],
  withholders: ReadonlySet<string>,
  honest: ReadonlySet<string>,
  names: ReadonlyMap<string, string>,
): InvariantResult {
  const name = 'withheld content'
  if (withholders.size === 0) return pass(name, 'no withholding miner in this scenario: nothing withheld')
  const owners = new Map(claims.map((c) => [c.id, c.owner]))
  const blamed: string[] = []
  let disputes = 0
  for (const c of challenges) {
    if (!withholders.has(owners.get(c.claimId) ?? '')) continue
    disputes++
    for (const who of [...c.tried, ...c.penalized])
      if (honest.has(who)) blamed.push(`${names.get(who) ?? who} in ${c.id} (${c.claimId})`)
  }
  // A withheld claim is always disputed (an aggregate that leaves it out opens one): none at
  // all means the run never put an honest verifier or arbiter in that spot.
  if (disputes === 0) return fail(name, 'no challenge of a withheld claim in the run, so nothing was tested')
  return blamed.length === 0
    ? pass(name, `${disputes} challenges of withheld claims: no honest verifier or arbiter penalized`)
    : fail(name, `honest nodes penalized for withheld content: ${blamed.slice(0, 5).join('; ')}`)
}

/** What a serving node reported loading: the adapter-state CID of each subnet (null: the initial state). */
export interface LoadedModelRecord {
  readonly node: string
  readonly height: number
  readonly pointers: readonly (string | null)[]
}

/**
 * No model a serving node loaded contains a convicted claim: each loaded adapter state is named
 * by an aggregate on chain that was not slashed, and no submission that aggregate or any
 * aggregate under it (its `previousCid` chain) names was slashed. `claims` are every claim of
 * the run's windows.
 */
export function checkServedModels(loaded: readonly LoadedModelRecord[], claims: readonly Claim[]): InvariantResult {
  const name = 'served models clean'
  const byId = new Map(claims.map((c) => [c.id, c]))
  // Identical bytes are the identical state: a CID some unslashed aggregate names is that aggregate's.
  const byCid = new Map<string, Claim>()
  for (const c of claims)
    if (c.kind === 'aggregate' && (byCid.get(c.cid) === undefined || byCid.get(c.cid)?.status === 'slashed'))
      byCid.set(c.cid, c)
  const tainted: string[] = []
  const states = new Set<string>()
  for (const record of loaded) {
    for (const pointer of record.pointers) {
      if (pointer === null) continue
      states.add(pointer)
      const problems: string[] = []
      const seen = new Set<string>()
      for (let cid: string | null = pointer; cid !== null && !seen.has(cid); ) {
        seen.add(cid)
        const agg = byCid.get(cid)
        if (agg === undefined) {
          problems.push(`no aggregate on chain names ${cid.slice(0, 16)}`)
          break
        }
        if (agg.status === 'slashed') problems.push(`aggregate ${agg.id} was slashed`)
        for (const id of agg.claims)
          if (byId.get(id)?.status === 'slashed') problems.push(`${agg.id} names slashed ${id}`)
        cid = agg.previousCid
      }
      if (problems.length > 0)
        tainted.push(`${record.node} at height ${record.height} loaded ${pointer.slice(0, 16)}: ${problems.join(', ')}`)
    }
  }
  if (loaded.length === 0) return pass(name, 'no serving node loaded a model: nothing to check')
  return tainted.length === 0
    ? pass(
        name,
        `${loaded.length} loads, ${states.size} trained adapter states: none from a slashed aggregate or holding a slashed claim`,
      )
    : fail(name, tainted.slice(0, 5).join('; '))
}

/**
 * Every (window, subnet) whose aggregate was slashed was aggregated again. Passes for one
 * only when the redo could not be expected: the run ended while an attempt was still within
 * its deadline (`height` ≤ its deadline) or its aggregate was still in its challenge period
 * (submitted), or every attempt went to a cheating validator
 * (`cheats`) before the attempts ran out. An honest validator drawn that let its attempt lapse
 * is a failure. `aggregations` are the chain's records of those (window, subnet) pairs.
 */
export function checkAggregatesRedone(
  claims: readonly Claim[],
  aggregations: ReadonlyMap<string, Aggregation>,
  cheats: ReadonlySet<string>,
  height: number,
): InvariantResult {
  const name = 'slashed aggregates redone'
  const slashed = claims.filter((c) => c.kind === 'aggregate' && c.status === 'slashed')
  if (slashed.length === 0) return pass(name, 'no aggregate was slashed: nothing to redo')
  const pairs = [...new Set(slashed.map((c) => `${c.window}/${c.subnet}`))]
  const redone: string[] = []
  const excused: string[] = []
  const missing: string[] = []
  for (const pair of pairs) {
    const [window, subnet] = pair.split('/').map(Number) as [number, number]
    const later = claims.filter(
      (c) => c.kind === 'aggregate' && c.window === window && c.subnet === subnet && c.status !== 'slashed',
    )
    if (later.length > 0) {
      redone.push(`${pair} by ${later.map((c) => c.id).join(', ')}`)
      continue
    }
    const a = aggregations.get(pair)
    if (a === undefined) {
      missing.push(`${pair}: no aggregation record`)
      continue
    }
    const drawn = [...a.tried, ...(a.aggregator === null ? [] : [a.aggregator])]
    const honest = drawn.filter((v) => !cheats.has(v))
    if ((a.stage === 'due' || a.stage === 'waiting') && (a.deadline === null || a.deadline >= height))
      excused.push(`${pair}: attempt ${a.attempt} still open at the end of the run`)
    // The claims were read before this record: an aggregate submitted in between is on chain.
    else if (a.stage === 'submitted')
      excused.push(
        `${pair}: attempt ${a.attempt} submitted (${a.claimId}), in its challenge period at the end of the run`,
      )
    else if (a.stage === 'spent' && honest.length === 0)
      excused.push(`${pair}: all ${a.attempt + 1} attempts drawn cheats`)
    else
      missing.push(
        `${pair}: ${a.stage} after ${a.attempt + 1} attempts, honest drawn ${honest.join(', ') || 'none'}, nothing aggregated`,
      )
  }
  const detail = [
    `${redone.length} of ${pairs.length} redone${redone.length > 0 ? ` (${redone.join('; ')})` : ''}`,
    ...excused,
  ].join('; ')
  return missing.length === 0 ? pass(name, detail) : fail(name, missing.join('; '))
}

/**
 * A miner planted with copiedCid, from its submissions (`own`): caught when no copy is ever
 * paid (flagged at reveal, or never in time to reveal), provided it made a claim at all: a
 * copier that revealed nothing copied nothing the chain could judge.
 */
export function judgeCopier(name: string, own: readonly Claim[]): { ok: boolean; detail: string } {
  const paid = own.filter((c) => c.status === 'accepted' && c.flag !== 'copied')
  const flagged = own.filter((c) => c.flag === 'copied').length
  if (own.length === 0) return { ok: false, detail: `${name} copiedCid: it made no claim, so nothing was tested` }
  if (paid.length > 0) return { ok: false, detail: `${name} copiedCid: ${own.length} claims, ${paid.length} paid` }
  return { ok: true, detail: `${name} copiedCid: ${own.length} claims (${flagged} flagged as copies), none paid` }
}

/** A validator planted with wrongAggregate: every aggregate it publishes is wrong. */
export interface AggregateCheat {
  readonly name: string
  readonly address: string
  /** Whether it holds less stake now than at genesis. */
  readonly lost: boolean
  readonly stake: bigint | undefined
}

/**
 * The wrongAggregate part of "cheats slashed". Each planted aggregator's aggregates must not
 * outlive their challenge period unchallenged, and one convicted must have cost it stake; one
 * still inside its period or under challenge when the run ends is not judged yet. And the run
 * must have judged at least one: some planted aggregator's aggregate challenged and convicted
 * (slashed, with a challenge the challenger won). A validator aggregates only when the chain
 * draws it, so without that the scenario would pass having tested nothing. `aggregations` are
 * the chain's records of the run's (window, subnet) pairs: who was drawn, attempt by attempt.
 */
export function judgeWrongAggregates(
  cheats: readonly AggregateCheat[],
  claims: readonly Claim[],
  challenges: readonly Challenge[],
  aggregations: readonly Aggregation[],
  height: number,
  names: ReadonlyMap<string, string> = new Map(),
): { caught: string[]; uncaught: string[] } {
  const nameOf = (address: string): string => names.get(address) ?? address
  const caught: string[] = []
  const uncaught: string[] = []
  const won = new Set(challenges.filter((c) => c.outcome === 'challenger').map((c) => c.claimId))
  let judged = 0
  for (const cheat of cheats) {
    const drawn = aggregations
      .filter((a) => a.aggregator === cheat.address || a.tried.includes(cheat.address))
      .map((a) => `${a.window}/${a.subnet}`)
    const aggregates = claims.filter((c) => c.owner === cheat.address && c.kind === 'aggregate')
    const convicted = aggregates.filter((c) => c.status === 'slashed' && won.has(c.id)).length
    const slashed = aggregates.filter((c) => c.status === 'slashed').length
    const escaped = aggregates.filter((c) => c.status === 'accepted' && c.challengeUntil < height).length
    const pending = aggregates.length - slashed - escaped
    judged += convicted
    const what = `drawn for ${drawn.length === 0 ? 'no (window, subnet)' : drawn.join(', ')}; ${aggregates.length} aggregates`
    if (escaped === 0 && (slashed === 0 || cheat.lost))
      caught.push(
        `${cheat.name} wrongAggregate: ${what}, ${convicted} challenged and convicted, ${pending} not judged yet`,
      )
    else
      uncaught.push(
        `${cheat.name} wrongAggregate: ${what}, ${escaped} accepted past their challenge period, ${slashed} slashed, stake ${cheat.stake}`,
      )
  }
  const draws = aggregations
    .map(
      (a) =>
        `${a.window}/${a.subnet} ${[...a.tried, ...(a.aggregator === null ? [] : [a.aggregator])].map(nameOf).join(' → ')}`,
    )
    .join(', ')
  if (cheats.length > 0 && judged === 0)
    uncaught.push(
      `no wrong aggregate was challenged and convicted in the run, so nothing was tested (aggregators drawn per window/subnet: ${draws || 'none'})`,
    )
  else if (cheats.length > 0) caught.push(`aggregators drawn per window/subnet: ${draws}`)
  return { caught, uncaught }
}

/** Every check, read from the running network. `samples` is the height timeline of the run. */
export async function checkInvariants(
  net: Testnet,
  samples: readonly { atMs: number; height: number }[],
): Promise<InvariantResult[]> {
  const layout = net.layout
  if (layout === undefined) throw new Error('the testnet was not set up')
  const t = net.plan.topology
  const results: InvariantResult[] = []

  const histories = await net.histories()
  results.push(...checkAgreement(histories))
  const consensusKeys = new Map(
    layout.genesis.stakers.map((s) => [addressOf(fromHex(s.pubKey, 32) as Uint8Array), s.consensusKey]),
  )
  results.push(checkBeacons(histories, chainGenesisBeacon(layout.genesis), t.chain.params.windowBlocks, consensusKeys))

  // Conservation, on every node that answers.
  const audits: string[] = []
  let audited = 0
  for (const n of net.nodes) {
    const a = await n.get<{ ok: boolean; held: string; expected: string }>('/query/audit')
    if (a === undefined) continue
    audited++
    if (!a.ok) audits.push(`${n.name}: held ${a.held}, expected ${a.expected}`)
  }
  results.push(
    audits.length === 0
      ? pass('conservation', `${audited} nodes audited: supply conserved`)
      : fail('conservation', audits.join('; ')),
  )

  const reader = await net.reader()
  const claimOf = async (id: string): Promise<Claim | null | 'gone'> => {
    const c = await reader?.get<Claim | null>(`/query/claim/${encodeURIComponent(id)}`)
    return c === undefined ? 'gone' : c
  }

  // Acknowledged submissions are on chain (a pruned one was on chain once).
  const missing: string[] = []
  let acknowledged = 0
  for (const n of net.nodes) {
    const s = await n.get<{ acknowledged?: string[] }>('/status')
    for (const id of s?.acknowledged ?? []) {
      acknowledged++
      if ((await claimOf(id)) === null) missing.push(`${n.name}: ${id}`)
    }
  }
  results.push(
    missing.length === 0
      ? pass('acknowledged submissions', `${acknowledged} acknowledged reveals, every one on chain`)
      : fail('acknowledged submissions', `acknowledged but not on chain: ${missing.slice(0, 5).join('; ')}`),
  )

  // Stakes now against genesis.
  const genesisStake = new Map(layout.genesis.stakers.map((s) => [addressOf(fromHex(s.pubKey) as Uint8Array), s.stake]))
  const stakeNow = async (address: string): Promise<bigint | undefined> => {
    const s = await reader?.get<{ stake: string } | null>(`/query/staker/${address}`)
    return s === undefined || s === null ? undefined : BigInt(s.stake)
  }
  const window = (await reader?.get<{ id: number }>('/query/window'))?.id ?? 0
  const chainHeight = (await reader?.get<number>('/query/height')) ?? 0
  const claims = await net.claims(window)
  const challenges: Challenge[] = []
  for (let i = 0; ; i++) {
    const c = await reader?.get<Challenge | null>(`/query/challenge/ch-${i}`)
    if (c === undefined || c === null) break
    challenges.push(c)
  }

  const uncaught: string[] = []
  const caught: string[] = []
  const honestLost: string[] = []
  const penalized: string[] = []
  const aggregateCheats: AggregateCheat[] = []
  const names = new Map(layout.nodes.map((n) => [n.address, n.name]))
  for (const n of layout.nodes) {
    const before = genesisStake.get(n.address)
    const now = await stakeNow(n.address)
    const lost = before !== undefined && now !== undefined && now < before
    if (n.misbehaviours.length === 0) {
      // A verifier or arbiter that missed a duty's deadline, or an aggregator that declared
      // unavailable a gradient a panel then fetched, pays the chain's duty penalty (a percent
      // a time): the rule working, not a slash. Anything beyond a few of those,
      // and any loss at all for a node without such duties, is.
      const duty = n.roles.some((r) => r === 'verifier' || r === 'arbiter' || r === 'validator')
      const bound = duty && before !== undefined ? before / 20n : 0n
      if (lost && before !== undefined && now !== undefined && before - now > bound)
        honestLost.push(`${n.name} (${before} → ${now})`)
      else if (lost) penalized.push(`${n.name} (${before} → ${now})`)
      continue
    }
    for (const kind of n.misbehaviours) {
      const own = claims.filter((c) => c.owner === n.address && c.kind === 'submission')
      switch (kind) {
        case 'wrongGradient': {
          const slashed = own.filter((c) => c.status === 'slashed').length
          if (slashed > 0 && lost) caught.push(`${n.name} wrongGradient: ${slashed} claims slashed`)
          else uncaught.push(`${n.name} wrongGradient: ${own.length} claims, ${slashed} slashed, stake ${now}`)
          break
        }
        case 'wrongAggregate':
          // Judged below, over every planted aggregator together: the draw decides who aggregates.
          aggregateCheats.push({ name: n.name, address: n.address, lost, stake: now })
          break
        case 'copiedCid': {
          const verdict = judgeCopier(n.name, own)
          if (verdict.ok) caught.push(verdict.detail)
          else uncaught.push(verdict.detail)
          break
        }
        case 'griefingChallenger': {
          const mine = challenges.filter((c) => c.challenger === n.address)
          const lostBonds = mine.filter((c) => c.outcome === 'owner').length
          const upheld = mine.filter((c) => c.outcome === 'challenger').length
          if (lostBonds > 0 && upheld === 0) caught.push(`${n.name} griefingChallenger: ${lostBonds} bonds lost`)
          else uncaught.push(`${n.name} griefingChallenger: ${mine.length} challenges, ${lostBonds} bonds lost`)
          break
        }
        case 'withholdingMiner': {
          // Every withheld claim must end out of every aggregate, unpaid, and its owner slashed.
          // One still under dispute, inside its challenge period or waiting for its aggregate
          // (its reward waits too) when the run ends is not judged yet; one accepted past all of
          // that was paid, and one aggregated moved the model with work nobody could check.
          const aggregated = new Set(claims.filter((c) => c.kind === 'aggregate').flatMap((c) => c.claims))
          const inModel = own.filter((c) => aggregated.has(c.id)).length
          const slashed = own.filter((c) => c.status === 'slashed').length
          let escaped = 0
          for (const c of own) {
            if (c.status !== 'accepted' || c.challengeUntil >= chainHeight) continue
            const a = await reader?.get<Aggregation | null>(`/query/aggregation/${c.window}/${c.subnet}`)
            if (a?.stage !== 'waiting' && a?.stage !== 'due') escaped++
          }
          const pending = own.length - slashed - escaped
          if (inModel === 0 && escaped === 0 && slashed > 0 && lost)
            caught.push(
              `${n.name} withholdingMiner: ${slashed} claims slashed as unavailable, ${pending} not judged yet`,
            )
          else
            uncaught.push(
              `${n.name} withholdingMiner: ${own.length} claims, ${inModel} aggregated, ${escaped} paid, ${slashed} slashed, stake ${now}`,
            )
          break
        }
        case 'withholdAndChallenge': {
          // The accomplice wants honest verifiers penalized; the withheld-content invariant
          // checks that none was. Here: its challenges of withheld claims were ruled on.
          const mine = challenges.filter((c) => c.challenger === n.address)
          const ruled = mine.filter((c) => c.outcome === 'unavailable').length
          if (mine.length > 0)
            caught.push(`${n.name} withholdAndChallenge: ${mine.length} challenges, ${ruled} ruled unavailable`)
          else uncaught.push(`${n.name} withholdAndChallenge: it never challenged`)
          break
        }
        case 'equivocatingValidator':
          if (lost) caught.push(`${n.name} equivocated: stake ${before} → ${now}`)
          else uncaught.push(`${n.name} equivocated but kept stake ${now}`)
          break
        case 'seedGrinder': {
          // What must hold is in the beacons check (no committed beacon forged) and liveness;
          // here, how many blocks it still got in, each with the beacon its key gave.
          const proposed = [...histories.values()]
            .reduce<readonly BeaconEntry[]>((a, b) => (b.length > a.length ? b : a), [])
            .filter((e) => e.proposer === n.address).length
          caught.push(
            `${n.name} seedGrinder: its forged beacons refused; ${proposed} of its blocks committed, honest ones`,
          )
          break
        }
        case 'byzantineValidator':
          // Nothing it sends is a double sign: what must hold is liveness, agreement and the
          // honest stakes, checked for every node above and below.
          caught.push(`${n.name} byzantineValidator: refused by its peers, stake ${before} → ${now}`)
          break
        default:
          caught.push(`${n.name} ${kind}: not checked by the chain`)
      }
    }
  }
  if (aggregateCheats.length > 0) {
    const aggregations: Aggregation[] = []
    for (let w = 0; w <= window; w++)
      for (let s = 0; s < t.subnets.length; s++) {
        const a = await reader?.get<Aggregation | null>(`/query/aggregation/${w}/${s}`)
        if (a !== undefined && a !== null) aggregations.push(a)
      }
    const verdict = judgeWrongAggregates(aggregateCheats, claims, challenges, aggregations, chainHeight, names)
    caught.push(...verdict.caught)
    uncaught.push(...verdict.uncaught)
  }
  results.push(
    uncaught.length === 0
      ? pass('cheats slashed', caught.length === 0 ? 'no cheats planted' : caught.join('; '))
      : fail('cheats slashed', uncaught.join('; ')),
  )
  results.push(
    honestLost.length === 0
      ? pass(
          'honest not slashed',
          `${layout.nodes.filter((n) => n.misbehaviours.length === 0).length} honest nodes kept their stake`,
        )
      : fail('honest not slashed', honestLost.join('; ')),
  )

  // What every serving node loaded, and whether a convicted claim reached it.
  const loaded: LoadedModelRecord[] = []
  for (const n of net.nodes) {
    const s = await n.get<{ loss?: { height: number; pointers?: (string | null)[] }[] }>('/status')
    for (const l of s?.loss ?? []) loaded.push({ node: n.name, height: l.height, pointers: l.pointers ?? [] })
  }
  results.push(checkServedModels(loaded, claims))

  const records = new Map<string, Aggregation>()
  for (const c of claims.filter((x) => x.kind === 'aggregate' && x.status === 'slashed')) {
    const a = await reader?.get<Aggregation | null>(`/query/aggregation/${c.window}/${c.subnet}`)
    if (a !== undefined && a !== null) records.set(`${c.window}/${c.subnet}`, a)
  }
  const cheats = new Set(layout.nodes.filter((n) => n.misbehaviours.includes('wrongAggregate')).map((n) => n.address))
  results.push(checkAggregatesRedone(claims, records, cheats, chainHeight))

  const withholders = new Set(
    layout.nodes.filter((n) => n.misbehaviours.includes('withholdingMiner')).map((n) => n.address),
  )
  const honest = new Set(layout.nodes.filter((n) => n.misbehaviours.length === 0).map((n) => n.address))
  results.push(checkWithheldPenalties(challenges, claims, withholders, honest, names))

  const boundMs = t.run.recoveryBlocks * t.chain.params.blockTimeMs * 6 + 30_000
  results.push(checkRecovery(net.faults, samples, t.run.recoveryBlocks, boundMs))
  return results
}
