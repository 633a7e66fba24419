/**
 * Backend selection. `ts` is always available; `cpu` when its native addon loaded, `cuda` when
 * the addon also found the CUDA library and a GPU (see native.ts). `auto` takes `cuda`, else
 * `cpu`, else falls back to `ts`, and the first such fallback in a process carries a notice for
 * the caller to print (this module prints nothing). All three give the same bytes.
 */
import { MlConfigError } from '../errors.ts'
import type { BackendName, Kernels } from './contract.ts'
import { cpuKernels, cudaKernels, cudaStatus, nativeStatus } from './native.ts'
import { tsKernels } from './ts-kernels.ts'

export type BackendChoice = 'ts' | 'cpu' | 'cuda' | 'auto'

export interface BackendStatus {
  readonly name: BackendName
  readonly available: boolean
  /** Why the backend cannot run here (absent when it can). */
  readonly reason?: string
  /** Details, e.g. the instruction set the cpu backend uses. */
  readonly detail?: string
}

/** Every backend this build knows, available or not, with the reason when not. */
export function backendStatuses(): BackendStatus[] {
  const native = nativeStatus()
  const cuda = cudaStatus()
  return [
    { name: 'ts', available: true, detail: 'TypeScript reference' },
    native.available
      ? { name: 'cpu', available: true, detail: `native ${native.info.isa}, ${native.info.threads} threads` }
      : { name: 'cpu', available: false, reason: native.reason },
    cuda.available
      ? { name: 'cuda', available: true, detail: cuda.device }
      : { name: 'cuda', available: false, reason: cuda.reason },
  ]
}

/** The names of the backends that can run here, `ts` first. */
export function availableBackends(): BackendName[] {
  return backendStatuses()
    .filter((b) => b.available)
    .map((b) => b.name)
}

export interface Selection {
  readonly kernels: Kernels
  /**
   * Set when `auto` fell back to `ts`, the first time in this process only: one line saying
   * why, for the caller to show once.
   */
  readonly notice?: string
}

let fallbackNoticeGiven = false

/** Picks a backend by name; throws `MlConfigError` for an unknown name or an unavailable backend. */
export function selectBackend(choice: string): Selection {
  return pick(choice, true)
}

/** The kernels for a backend name (see selectBackend); this form neither gives nor uses up the notice. */
export function getKernels(choice: BackendChoice): Kernels {
  return pick(choice, false).kernels
}

function pick(choice: string, withNotice: boolean): Selection {
  if (choice === 'ts') return { kernels: tsKernels }
  if (choice === 'cpu' || choice === 'cuda') {
    const status = backendStatuses().find((b) => b.name === choice) as BackendStatus
    // Each named backend answers with its own kernels, never another's.
    const kernels = choice === 'cpu' ? cpuKernels : cudaKernels
    if (!status.available) {
      throw new MlConfigError(`backend ${choice} is not available: ${status.reason}`, {
        backend: choice,
        reason: status.reason,
      })
    }
    return { kernels }
  }
  if (choice === 'auto') {
    if (cudaStatus().available) return { kernels: cudaKernels }
    const native = nativeStatus()
    if (native.available) return { kernels: cpuKernels }
    if (!withNotice || fallbackNoticeGiven) return { kernels: tsKernels }
    fallbackNoticeGiven = true
    return { kernels: tsKernels, notice: `using the ts backend: ${native.reason}` }
  }
  throw new MlConfigError(`unknown backend "${choice}" (expected ts, cpu, cuda or auto)`, { backend: choice })
}
