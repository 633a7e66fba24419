/**
 * Tensor admission sizes follow the window: a boundary tensor must have the size its window's
 * protocol gives, so a governance change of the batch shape applies from the window that
 * recorded it, and the next window's tensors may differ from the open one's.
 */
import { strict as assert } from 'node:assert'
import {
  admitTensor,
  type TensorReceiverInit,
  TensorRefusal,
  TensorRefusedError,
} from '../../src/actors/training/tensor-admission.ts'
import type { TensorInbox } from '../../src/actors/training/tensor-inbox.ts'
import type { TensorHeader } from '../../src/net/activation-stream.ts'
import { silentLogger } from './roles/machine-trace.ts'

const SELF = 'r3mes1self'
const UPSTREAM = { address: 'r3mes1up', roles: ['miner'], subnet: 0 }

function init(tensorBytes: (window: number) => number): TensorReceiverInit {
  return {
    self: SELF,
    chain: {
      currentWindow: () => ({ id: 3 }),
      tasks: () => [],
      staker: (address: string) => (address === SELF ? { subnet: 1 } : null),
      stakers: () => [],
    } as unknown as TensorReceiverInit['chain'],
    tensorBytes,
    inbox: { hasRoom: () => true } as unknown as TensorInbox,
    logger: silentLogger,
  }
}

const header = (window: number, sizeBytes: number): TensorHeader => ({
  v: 1,
  direction: 'forward',
  window,
  step: 0,
  sizeBytes,
  cid: 'bafy',
})

describe('actors: tensor admission sizes per window', () => {
  it('takes the next window’s tensors at the size its protocol gives, and refuses the open window’s size for it', () => {
    const sizes = init((window) => (window === 3 ? 1024 : 2048))
    assert.equal(admitTensor(sizes, header(4, 2048), UPSTREAM), 3)
    assert.throws(
      () => admitTensor(sizes, header(4, 1024), UPSTREAM),
      (e: unknown) =>
        e instanceof TensorRefusedError &&
        e.code === TensorRefusal.wrongSize &&
        /window 4 is 2048 bytes/.test(e.message),
    )
  })
})
