/**
 * Backend selection. Only the TypeScript reference exists in this file's version; the native
 * backend registers here when it is built.
 */
import { MlConfigError } from '../errors.ts'
import type { BackendName, Kernels } from './contract.ts'
import { tsKernels } from './ts-kernels.ts'

export function availableBackends(): BackendName[] {
  return ['ts']
}

export interface Selected {
  readonly kernels: Kernels
  /** Why `auto` fell back to a slower backend, if it did. */
  readonly fallbackReason?: string
}

export function selectKernels(name: string): Selected {
  if (name === 'ts') return { kernels: tsKernels }
  if (name === 'auto') return { kernels: tsKernels, fallbackReason: 'the native cpu backend is not built' }
  throw new MlConfigError(`backend '${name}' is not available; available: ${availableBackends().join(', ')}`)
}
