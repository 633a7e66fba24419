/**
 * Progress of a long job: a bar redrawn in place on a terminal, plain lines (every 10%)
 * elsewhere, so logs and CI output stay readable.
 */
import type { JobEvent } from '../ml/jobs/job.ts'

export interface ProgressSink {
  isTTY: boolean
  write(text: string): void
}

export function progressPrinter(label: string, sink: ProgressSink): (e: JobEvent) => void {
  let lastDecile = -1
  return (e) => {
    if (e.type === 'log') {
      sink.write(`${sink.isTTY ? '\r\x1b[K' : ''}${label}: ${e.message}\n`)
      return
    }
    const fraction = e.steps === 0 ? 1 : e.step / e.steps
    const text = `${label} step ${e.step}/${e.steps}  loss ${e.loss.toFixed(3)}  ${Math.round(e.tokensPerSecond)} tok/s`
    if (sink.isTTY) {
      const width = 24
      const filled = Math.round(fraction * width)
      sink.write(
        `\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}${e.step === e.steps ? '\n' : ''}`,
      )
      return
    }
    const decile = Math.floor(fraction * 10)
    if (decile !== lastDecile || e.step === e.steps) {
      lastDecile = decile
      sink.write(`${text}\n`)
    }
  }
}
