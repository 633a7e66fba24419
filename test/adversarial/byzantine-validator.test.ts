/**
 * The byzantineValidator misbehaviour in a 4-validator network over real libp2p: validator 3
 * proposes blocks dated a day ahead and sends far-future rounds and heights, junk commits,
 * evidence and transactions, and statuses with forged authors beside its honest votes. With
 * one Byzantine validator of four, the three honest ones must keep committing, agree on every
 * block and app hash, and slash nobody (nothing it does is a double sign); the blocks it
 * proposed must not carry its far-future time.
 */
import assert from 'node:assert/strict'
import { FAR_FUTURE_BLOCK_TIME_MS } from '../../src/actors/byzantine-messages.ts'
import { BYZANTINE_ATTACKS } from '../../src/actors/byzantine-validator.ts'
import { clock } from '../net/helpers.ts'
import { assertMemoryBounded, liveBytes, startValidatorNetwork, type ValidatorNetwork } from './network.ts'

describe('adversarial: a Byzantine validator', function () {
  this.timeout(180_000)
  let network: ValidatorNetwork | undefined
  after(async () => {
    await network?.stop()
  })

  it('three honest validators of four keep committing, agree, slash no one, and never take its far-future blocks', async () => {
    const startMs = clock.nowMs()
    network = await startValidatorNetwork({ byzantine: 3 })
    const net = network
    const before = liveBytes()
    // Long enough for the Byzantine validator to be proposer several times and to cycle
    // through every attack more than once.
    await net.advance(12, 120_000, 'committing beside a Byzantine validator')
    net.assertAgreement()
    const honest = net.chains.slice(0, 3)
    for (const chain of honest) {
      assert.equal(chain.reader.globals.slashed, 0n, `nothing slashed on validator ${chain.validatorIndex}`)
      for (const [height, entry] of chain.history)
        assert.ok(
          entry.timeMs < startMs + FAR_FUTURE_BLOCK_TIME_MS / 2,
          `block ${height} dated ${new Date(entry.timeMs).toISOString()}, far in the future`,
        )
    }
    // The attacks really went out: every kind, and far-future blocks whenever it proposed.
    const sent = net.chains[3]?.byzantineAttacksSent
    for (const kind of [...BYZANTINE_ATTACKS, 'farFutureBlockTime'])
      assert.ok((sent?.get(kind) ?? 0) > 0, `the Byzantine validator sent no ${kind}`)
    assertMemoryBounded(liveBytes() - before, 'a Byzantine validator')
  })
})
