/**
 * A spawned child that has finished stays among its parent's children: the machine keeps the
 * reference until the child is stopped, and every later spawn copies that list. A role that
 * spawns a child per claim, seat, attempt or window stops each one as it reports done
 * (`stopChild(({ event }) => childIdOf(event))`);
 * otherwise a node that runs for months holds every one it ever spawned, and each spawn costs
 * more than the last.
 */

/** The id of the child a `xstate.done.actor.<id>` or `xstate.error.actor.<id>` event comes from. */
export function childIdOf(event: { readonly type: string }): string {
  return event.type.replace(/^xstate\.(done|error)\.actor\./, '')
}
