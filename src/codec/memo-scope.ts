/**
 * The scope the memos of verified signatures and VRF proofs are kept in (ed25519.ts, vrf.ts).
 * A node verifies each signature once and remembers it; the simulator runs
 * many nodes in one process, where the first node's verification would answer for all of them.
 * Inside `inMemoScope(name, fn)` those memos are `name`'s own, so a simulated node pays for its
 * verifications as a process of its own does. Outside any scope (every real node): ''.
 */
let current = ''

/** The scope's prefix for memo keys ('' outside any scope). */
export function memoScope(): string {
  return current
}

/** `fn` with the verification memos of scope `name` (names must not contain '\n'). */
export function inMemoScope<T>(name: string, fn: () => T): T {
  const was = current
  current = `${name}\n`
  try {
    return fn()
  } finally {
    current = was
  }
}
