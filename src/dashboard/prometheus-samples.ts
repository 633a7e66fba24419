/**
 * The few figures the dashboard takes from a node's `GET /metrics` (the Prometheus text
 * exposition format): unlabelled samples by name. The format is line based and these samples
 * are `name value`, so a line match does; a full parser (labels, histograms, escapes) would
 * read what the page never shows.
 */

/** The value of each unlabelled sample named in `names` that `text` holds (finite values only). */
export function unlabelledSamples(text: string, names: readonly string[]): Map<string, number> {
  const wanted = new Set(names)
  const found = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)/.exec(line)
    if (match === null || !wanted.has(match[1] as string)) continue
    const value = Number(match[2])
    if (Number.isFinite(value)) found.set(match[1] as string, value)
  }
  return found
}
