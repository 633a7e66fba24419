/**
 * A topology file that cannot start a network. One error carries every problem found, so a
 * user fixes a file in one pass; each problem names the file, the field path, the line when
 * the YAML source is known, what was expected and what was found.
 */
import { R3mesError } from '../runtime/errors.ts'

export interface TopologyIssue {
  readonly file: string
  /** Field path in the file, e.g. `subnets[1].layers`; empty for the whole document. */
  readonly path: string
  /** 1-based line of the field in the file, when known. */
  readonly line?: number
  readonly column?: number
  /** What the field must hold, in words. */
  readonly expected: string
  /** What the file holds there, in words; absent when the problem is not one value. */
  readonly found?: string
}

export function formatIssue(issue: TopologyIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}:${issue.column ?? 1}`
  const field = issue.path === '' ? 'the document' : `field '${issue.path}'`
  const found = issue.found === undefined ? '' : `, found ${issue.found}`
  return `${where}: ${field}: expected ${issue.expected}${found}`
}

export class TopologyError extends R3mesError {
  readonly issues: readonly TopologyIssue[]
  constructor(file: string, issues: readonly TopologyIssue[]) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`
    super(
      'ERR_TOPOLOGY',
      `invalid topology file ${file} (${count}):\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`,
      {
        file,
        issues,
      },
    )
    this.issues = issues
  }
}
