import { localTestnetParams } from '../../src/chain/params.ts'
/**
 * The node API (src/actors/node-api.ts) of one validator of the adversarial network: the real
 * `NodeApi` over a real `R3mesNode` wrapped around that validator's `ChainNode` and libp2p
 * node, as `startNode` builds it for a node with the validator role only (no role work: a
 * validator's work is consensus, which the `ChainNode` already runs).
 */

import type { AdminAccess } from '../../src/actors/http/admin-access.ts'
import type { ServerBounds } from '../../src/actors/http/http-server.ts'
import { R3mesNode } from '../../src/actors/node.ts'
import { NodeApi } from '../../src/actors/node-api.ts'
import { nodeApiBackend } from '../../src/actors/node-api-backend.ts'
import { buildNodePieces } from '../../src/actors/node-pieces.ts'
import { trainingProtocol } from '../../src/actors/training/protocol.ts'
import { keyPairFromSeed } from '../../src/chain/keys.ts'
import { getModelConfig } from '../../src/ml/config.ts'
import { getKernels } from '../../src/ml/kernels/select.ts'
import { SkewedClock } from '../../src/runtime/skewed-clock.ts'
import { clock, components } from '../net/helpers.ts'
import { type ValidatorNetwork, validatorSeed } from './network.ts'

export interface ServedApi {
  readonly url: string
  readonly port: number
  readonly node: R3mesNode
  close(): Promise<void>
}

export async function serveNodeApi(
  network: ValidatorNetwork,
  index: number,
  options: { readonly bounds?: ServerBounds; readonly admin?: AdminAccess } = {},
): Promise<ServedApi> {
  const chain = network.chains[index]
  const net = network.nets[index]
  if (chain === undefined || net === undefined) throw new Error(`no validator ${index}`)
  const c = components(`api-${index}`, 100 + index)
  const key = keyPairFromSeed(validatorSeed(index))
  const config = getModelConfig('micro')
  const pieces = buildNodePieces(
    {
      key,
      chain,
      net,
      training: {
        config,
        protocolAt: () => trainingProtocol(config, localTestnetParams),
        data: { train: new Int32Array(0), shardCount: 1 },
        kernels: getKernels('ts'),
        cpuKernels: getKernels('ts'),
      },
    },
    c,
  )
  const node = new R3mesNode({ pieces, roles: ['validator'] })
  const api = new NodeApi({ backend: nodeApiBackend(node, new SkewedClock(clock)), components: c, ...options })
  const url = await api.listen()
  return {
    url,
    port: Number(new URL(url).port),
    node,
    async close() {
      await api.close()
      pieces.tx.close()
    },
  }
}
