import assert from 'node:assert/strict'
import { describe, it } from 'mocha'
import { kernelThreadsPerNode } from '../../../src/testnet/node-process.ts'

describe('testnet: native kernel threads per node', () => {
  it('splits the cores between the node processes, at least one thread each', () => {
    assert.equal(kernelThreadsPerNode(2, 9), 1, 'the default testnet: nine nodes on two cores')
    assert.equal(kernelThreadsPerNode(16, 4), 4)
    assert.equal(kernelThreadsPerNode(16, 5), 3, 'whole threads: the remainder stays free')
    assert.equal(kernelThreadsPerNode(8, 1), 8, 'one node takes every core')
    assert.equal(kernelThreadsPerNode(1, 0), 1)
  })
})
