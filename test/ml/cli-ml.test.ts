import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ExitCode } from '../../src/cli/command.ts'
import { cli } from '../helpers/cli.ts'

describe('r3mes ml / genesis (in a worker thread)', function () {
  this.timeout(180_000)
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'r3mes-cli-ml-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('ml check: every backend and the committed golden hashes agree', async () => {
    const { code, out } = await cli('ml', 'check', '--cases', '36', '--json')
    assert.equal(code, ExitCode.ok)
    const result = JSON.parse(out)
    assert.equal(result.cases, 36)
    assert.ok(result.backends.includes('ts'))
    assert.equal(result.mismatches, 0)
    assert.equal(result.goldenCompared, 36)
  })

  it('genesis pretrain then ml finetune: fine-tuning lowers held-out loss', async () => {
    const backbone = join(dir, 'micro')
    const pre = await cli(
      'genesis',
      'pretrain',
      '--config',
      'micro',
      '--out',
      backbone,
      '--steps',
      '60',
      '--sequences',
      '4',
      '--tokens',
      '32',
      '--eval-tokens',
      '1024',
      '--backend',
      'auto',
      '--json',
    )
    assert.equal(pre.code, ExitCode.ok, pre.err)
    const pretrained = JSON.parse(pre.out)
    assert.ok(pretrained.heldOutLoss < 0.7 * pretrained.uniformLoss, `held-out ${pretrained.heldOutLoss}`)
    assert.equal(pretrained.layerCids.length, 2)
    assert.match(pre.err, /pretrain step 60\/60/)

    const tuned = await cli(
      'ml',
      'finetune',
      '--backbone',
      backbone,
      '--steps',
      '40',
      '--sequences',
      '4',
      '--tokens',
      '32',
      '--eval-tokens',
      '2048',
      '--backend',
      'ts',
      '--out',
      join(dir, 'adapters.r3b'),
      '--json',
    )
    assert.equal(tuned.code, ExitCode.ok, tuned.err)
    const result = JSON.parse(tuned.out)
    assert.equal(result.backend, 'ts')
    assert.ok(result.after < result.before, `before ${result.before} after ${result.after}`)
    assert.ok(result.tokensPerSecond > 0)
    assert.match(result.adaptersCid, /^bafkrei/)
  })

  it('names the bad option or missing artifact', async () => {
    const badCases = await cli('ml', 'check', '--cases', 'many')
    assert.equal(badCases.code, ExitCode.usage)
    assert.match(badCases.err, /--cases/)
    const badBackend = await cli('ml', 'check', '--backend', 'quantum')
    assert.equal(badBackend.code, ExitCode.usage)
    const noBackbone = await cli('ml', 'finetune', '--backbone', join(dir, 'nothing-here'))
    assert.equal(noBackbone.code, ExitCode.usage)
    assert.match(noBackbone.err, /no backbone/)
    const noAction = await cli('ml')
    assert.equal(noAction.code, ExitCode.usage)
    const corrupt = await cli('genesis', 'pretrain', '--config', 'huge')
    assert.equal(corrupt.code, ExitCode.failure)
    assert.match(corrupt.err, /unknown model config 'huge'/)
  })
})
