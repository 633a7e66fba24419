/**
 * A parser of Prometheus's text exposition format (version 0.0.4), strict enough for tests:
 * every line is a `# HELP`, a `# TYPE`, another comment, a blank, or a sample of a family
 * whose TYPE came first; anything else throws, naming the line.
 */

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface MetricFamily {
  readonly name: string
  readonly type: string
  help: string
  readonly samples: Sample[]
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(?:,|$)/y
/** Sample names a histogram or summary family `x` writes besides `x`. */
const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created']

/** A sample value: a float, or NaN and ±Inf in any case, as Prometheus's parser (Go's ParseFloat) takes them; prom-client writes `Nan`. */
function parseValue(text: string, line: string): number {
  const special = text.toLowerCase()
  if (special === '+inf' || special === 'inf') return Number.POSITIVE_INFINITY
  if (special === '-inf') return Number.NEGATIVE_INFINITY
  if (special === 'nan') return Number.NaN
  const value = Number(text)
  if (text.trim() === '' || Number.isNaN(value)) throw new Error(`not a sample value: '${text}' in '${line}'`)
  return value
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  LABEL.lastIndex = 0
  while (LABEL.lastIndex < text.length) {
    const match = LABEL.exec(text)
    if (match === null) throw new Error(`malformed labels in '${line}'`)
    labels[match[1] as string] = (match[2] as string).replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c))
  }
  return labels
}

/** The families of `text`, by name. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>()
  const familyOf = (sampleName: string): MetricFamily | undefined => {
    const exact = families.get(sampleName)
    if (exact !== undefined) return exact
    for (const suffix of SUFFIXES)
      if (sampleName.endsWith(suffix)) {
        const family = families.get(sampleName.slice(0, -suffix.length))
        if (family !== undefined) return family
      }
    return undefined
  }
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    if (line.startsWith('#')) {
      const [, keyword, name, ...rest] = line.split(' ')
      if (keyword === 'TYPE' && name !== undefined) {
        if (families.has(name) && families.get(name)?.samples.length !== 0)
          throw new Error(`TYPE after samples: '${line}'`)
        families.set(name, { name, type: rest.join(' '), help: families.get(name)?.help ?? '', samples: [] })
      } else if (keyword === 'HELP' && name !== undefined) {
        const family = families.get(name)
        if (family !== undefined) family.help = rest.join(' ')
        else families.set(name, { name, type: 'untyped', help: rest.join(' '), samples: [] })
      }
      continue
    }
    const match = SAMPLE.exec(line)
    if (match === null) throw new Error(`not a sample line: '${line}'`)
    const name = match[1] as string
    const family = familyOf(name)
    if (family === undefined) throw new Error(`sample of no declared family: '${line}'`)
    family.samples.push({
      name,
      labels: match[2] === undefined ? {} : parseLabels(match[2], line),
      value: parseValue(match[3] as string, line),
    })
  }
  return families
}

/** The value of the one sample of `family` named `name` (the family's own name by default) with `labels`. */
export function sampleValue(
  families: Map<string, MetricFamily>,
  family: string,
  labels: Record<string, string> = {},
  name = family,
): number {
  const found = families.get(family)
  if (found === undefined) throw new Error(`no metric family '${family}'`)
  const matches = found.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )
  if (matches.length !== 1)
    throw new Error(`${matches.length} samples of ${name}${JSON.stringify(labels)} in family '${family}'`)
  return (matches[0] as Sample).value
}
