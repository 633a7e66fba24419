/**
 * The training protocol of a window. A window records the training parameters when it opens
 * (`Window.training`), and everything that computes for the window reads them there: the
 * miner's inner steps, the aggregate's outer step, and every re-execution of either. So a
 * governance change of H or a rate takes effect for every node at the same window (the next
 * one to open), and a dispute of an older window re-executes with the values it ran with.
 */
import type { ChainReader } from '../../chain/reader.ts'
import type { ModelConfig } from '../../ml/config.ts'
import { type TrainingProtocol, trainingProtocol } from './protocol.ts'

/**
 * `protocolAt(window)` for a model on a chain. A window the chain does not hold (not open
 * yet, or pruned) takes the current parameters: the next window opens with them, and a pruned
 * one can no longer be disputed.
 */
export function windowProtocols(
  config: ModelConfig,
  chain: Pick<ChainReader, 'window' | 'params'>,
): (window: number) => TrainingProtocol {
  return (window) => trainingProtocol(config, chain.window(window)?.training ?? chain.params)
}
