/**
 * Fault hooks at the sites where a crash matters (FoundationDB's BUGGIFY): inert in
 * production (no hook installed), fired by crash tests and the simulator.
 */
import { InjectedFaultError } from './errors.ts'

export type FaultSite = 'wal.append' | 'privval.save' | 'blockstore.save' | 'statestore.save'

/** 'crash' throws before the write; 'tear' writes part of it, then throws (a torn write). */
export type FaultAction = 'proceed' | 'crash' | 'tear'

export type FaultHook = (site: FaultSite) => FaultAction

export function noFaults(): FaultAction {
  return 'proceed'
}

/** A hook that fires `action` at the `n`th (1-based) write counted over all sites, and after it keeps crashing (the process is dead). */
export function crashAtWrite(
  n: number,
  action: 'crash' | 'tear' = 'crash',
): FaultHook & { readonly writes: () => number } {
  let count = 0
  const hook = (_site: FaultSite): FaultAction => {
    count++
    return count >= n ? action : 'proceed'
  }
  return Object.assign(hook, { writes: () => count })
}

export function injected(site: FaultSite, count = 0): InjectedFaultError {
  return new InjectedFaultError(site, count)
}
