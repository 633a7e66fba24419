/**
 * Re-execution convicts a miner only on what the miner did: content that arrives wrong or
 * cannot be decoded. Content that does not arrive in time (a slow or cut network) makes the
 * check throw, to be tried again later; it never reads as a fault. The components are stubbed
 * down to what the check touches before it fetches.
 */
import { strict as assert } from 'node:assert'
import { type ReexecuteComponents, reexecute } from '../../src/actors/roles/reexecute.ts'
import type { FetchOptions } from '../../src/actors/services/content-fetcher.ts'
import { traceMetadata } from '../../src/actors/training/protocol.ts'
import type { Claim } from '../../src/chain/state.ts'
import type { Kernels } from '../../src/ml/kernels/contract.ts'
import { ContentIntegrityError } from '../../src/net/errors.ts'
import { DeadlineError } from '../../src/runtime/clock.ts'

const TRACE = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

const claim = {
  id: '1.0.0/r3mes1miner',
  kind: 'submission',
  owner: 'r3mes1miner',
  window: 1,
  subnet: 0,
  taskId: '1.0.0',
  cid: 'bafkreia5ar5hyxfpufwhkwgn6bq7xaxzpdjkbfl2f5nfw5q7zhomvjfkhq',
  metadata: traceMetadata(TRACE),
} as unknown as Claim

/** Components whose fetches all answer with `fetch`; `asked` records who each fetch named as holder. */
function services(
  fetch: () => Promise<Uint8Array>,
  asked: (readonly string[] | undefined)[] = [],
): ReexecuteComponents {
  return {
    chain: {
      tasks: () => [{ id: '1.0.0', window: 1, subnet: 0, shard: 0, miners: ['r3mes1miner'] }],
      window: () => ({ id: 1, seed: '00', closeHeight: 20 }),
    },
    content: {
      fetch: (_cid: string, options?: FetchOptions) => {
        asked.push(options?.from)
        return fetch()
      },
    },
  } as unknown as ReexecuteComponents
}

describe('actors: re-execution verdicts', () => {
  it('throws, and convicts nobody, when the trace does not arrive in time', async () => {
    const asked: (readonly string[] | undefined)[] = []
    const s = services(() => Promise.reject(new DeadlineError(`fetching ${TRACE}`, 60_000)), asked)
    await assert.rejects(reexecute(s, claim, {} as Kernels), DeadlineError)
    assert.deepEqual(asked, [['r3mes1miner']], 'the trace is asked of the miner that stored it')
  })

  it('convicts when the trace arrives corrupt or is not a trace', async () => {
    const corrupt = services(() => Promise.reject(new ContentIntegrityError(TRACE, 'bafkreiother', 'content')))
    assert.deepEqual(await reexecute(corrupt, claim, {} as Kernels), {
      honest: false,
      reason: 'the trace is not served',
    })
    const garbage = services(() => Promise.resolve(new Uint8Array([1, 2, 3])))
    const verdict = await reexecute(garbage, claim, {} as Kernels)
    assert.equal(verdict.honest, false)
    assert.match(verdict.reason, /^bad trace: /)
  })
})
