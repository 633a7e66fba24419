/**
 * Tensor admission follows the window: a boundary tensor must have the size and inner step its window's
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
import { TensorInbox } from '../../src/actors/training/tensor-inbox.ts'
import type { TensorHeader } from '../../src/net/activation-stream.ts'
import { SimulatedClock } from '../../src/runtime/clock.ts'
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
    protocolAt: (window) => ({ innerSteps: window === 3 ? 2 : 4, microBatches: 2 }),
    inbox: { hasRoom: () => true, isSpare: () => false } as unknown as TensorInbox,
    logger: silentLogger,
  }
}

const header = (window: number, sizeBytes: number, innerStep = 0): TensorHeader => ({
  v: 2,
  direction: 'forward',
  window,
  step: 0,
  innerStep,
  microBatch: 1,
  sizeBytes,
  cid: 'bafy',
})

describe('actors: tensor admission sizes per window', () => {
  it('takes the next window’s tensors at the size and inner steps its protocol gives, not the open window’s', () => {
    const sizes = init((window) => (window === 3 ? 1024 : 2048))
    assert.equal(admitTensor(sizes, header(4, 2048), UPSTREAM), 3)
    // Inner step 3 is within window 4's H of 4, not within the open window's 2.
    assert.equal(admitTensor(sizes, header(4, 2048, 3), UPSTREAM), 3)
    assert.throws(
      () => admitTensor(sizes, header(3, 1024, 3), UPSTREAM),
      (e: unknown) => e instanceof TensorRefusedError && e.code === TensorRefusal.wrongStep,
    )
    assert.throws(
      () => admitTensor(sizes, header(4, 1024), UPSTREAM),
      (e: unknown) =>
        e instanceof TensorRefusedError &&
        e.code === TensorRefusal.wrongSize &&
        /window 4 is 2048 bytes/.test(e.message),
    )
  })
})

describe('actors: tensor admission of spare copies', () => {
  it('admits, and the inbox drops, a copy of a tensor a stage already took, even from a sender whose share is full', async () => {
    const inbox = new TensorInbox(new SimulatedClock(), { maxTensorsPerSender: 1 })
    const receiver = { ...init(() => 64), inbox }
    const STAND_IN = { ...UPSTREAM, address: 'r3mes1up-stand-in' }
    const at = (innerStep: number) => ({ step: 0, innerStep, microBatch: 1 })
    // The stage took inner step 0 from UPSTREAM; the stand-in's share is full with step 1.
    inbox.deliver(4, at(0), 'forward', UPSTREAM.address, new Uint8Array(64), 3)
    await inbox.takeFirst(4, at(0), 'forward', [UPSTREAM.address, STAND_IN.address], 10)
    inbox.deliver(4, at(1), 'forward', STAND_IN.address, new Uint8Array(64), 3)
    assert.equal(admitTensor(receiver, header(4, 64, 0), STAND_IN), 3, 'a spare copy is not refused for room')
    assert.equal(inbox.deliver(4, at(0), 'forward', STAND_IN.address, new Uint8Array(64), 3), 'spare')
    assert.equal(inbox.size, 1)
    // Anything else from it still needs room.
    assert.throws(
      () => admitTensor(receiver, { ...header(4, 64, 0), microBatch: 0 }, STAND_IN),
      (e: unknown) => e instanceof TensorRefusedError && e.code === TensorRefusal.inboxFull,
    )
  })
})
