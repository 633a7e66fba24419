/**
 * A stage trainer's pipeline links for a re-execution: the tensors a miner received come from
 * what its stage trace names (fetched by CID from the owner and its replicas), and what the
 * stage sends goes nowhere (the sent tensors are part of each inner step's leaf, compared by
 * hash). The same `runStage` that drove the miner's stage over the network drives it here.
 */
import { R3mesError } from '../../runtime/errors.ts'
import { f32From, type StageTrace } from '../training/protocol.ts'
import type { LinkDirection, StageLinks } from '../training/stage-trainer.ts'

/** A tensor the trace names arrived, but not as the bytes its CID names: the owner's fault. */
export class TensorNotServedError extends R3mesError {
  constructor(what: string) {
    super('ERR_TENSOR_NOT_SERVED', `${what} is not served intact`, { what })
  }
}

/**
 * Why a trace's received tensors cannot be those of a stage of `microBatches` × `innerSteps`:
 * the first stage names no inputs, the last no output gradients, the others H·M of each.
 */
export function receivedShapeFault(
  trace: Pick<StageTrace, 'inputs' | 'dOutputs'>,
  isFirst: boolean,
  isLast: boolean,
  count: number,
): string | undefined {
  const check = (list: readonly string[] | null, none: boolean, what: string): string | undefined => {
    if (none) return list === null ? undefined : `the trace names ${what} a stage at that end receives none of`
    if (list?.length !== count) return `the trace names ${list?.length ?? 0} ${what}, not ${count}`
    return undefined
  }
  return check(trace.inputs, isFirst, 'input activations') ?? check(trace.dOutputs, isLast, 'output gradients')
}

/** Links that read step k's micro-batch j at k·M + j of the trace's lists, through `fetch`. */
export function storedLinks(
  trace: Pick<StageTrace, 'inputs' | 'dOutputs'>,
  microBatches: number,
  fetch: (cid: string) => Promise<Uint8Array | undefined>,
): StageLinks {
  return {
    async receive(step: number, micro: number, direction: LinkDirection): Promise<Float32Array> {
      const list = direction === 'forward' ? trace.inputs : trace.dOutputs
      const what = `${direction === 'forward' ? 'input' : 'output gradient'} of inner step ${step} micro-batch ${micro}`
      const cid = list?.[step * microBatches + micro]
      if (cid === undefined) throw new TensorNotServedError(what)
      const bytes = await fetch(cid)
      if (bytes === undefined || bytes.length % 4 !== 0) throw new TensorNotServedError(what)
      return f32From(bytes)
    },
    send: async () => undefined,
  }
}
