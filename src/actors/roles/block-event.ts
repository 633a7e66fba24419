/**
 * What the node sends every role machine after each executed block: the chain's state after
 * it is readable through the role's `ChainReader` when the event arrives.
 */
export interface BlockEvent {
  readonly type: 'block'
  readonly height: number
}
