/**
 * Always-on assertions for invariants. A failed assertion is a programmer error, not an
 * expected failure: it throws `AssertionFailure`, which callers must not catch and carry on
 * (a node that broke an invariant stops rather than risk, say, a double signature).
 */
export class AssertionFailure extends Error {
  override readonly name = 'AssertionFailure'
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(message)
}

/** Exhaustiveness check for discriminated unions. */
export function unreachable(value: never, what = 'value'): never {
  throw new AssertionFailure(`unreachable ${what}: ${JSON.stringify(value)}`)
}
