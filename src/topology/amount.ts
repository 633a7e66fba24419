/**
 * Token amounts in topology files are written in R3MES (1 R3MES = 10^6 ur3mes), as a number or
 * a decimal string with at most 6 decimals: `20000`, `0.01`, `"1500.5"`. The chain counts in
 * base units (bigint); `toBaseUnits` converts exactly, with no floating-point rounding.
 */
import { z } from 'zod'
import { UNITS_PER_TOKEN } from '../chain/params.ts'

const DECIMALS = 6
const AMOUNT_PATTERN = /^(0|[1-9][0-9]{0,20})(\.[0-9]{1,6})?$/
/** Numbers above this lose integer precision in float64 before they reach the 6th decimal. */
const LARGEST_NUMBER_AMOUNT = 1e9

export const AMOUNT_EXPECTED = 'an amount of R3MES: a number ≥ 0 with at most 6 decimals, e.g. 20000 or "0.01"'

function isAmountText(text: string): boolean {
  return AMOUNT_PATTERN.test(text)
}

function isAmountNumber(n: number): boolean {
  return Number.isFinite(n) && n >= 0 && n <= LARGEST_NUMBER_AMOUNT && Number(n.toFixed(DECIMALS)) === n
}

export function isAmount(value: unknown): value is number | string {
  return typeof value === 'number' ? isAmountNumber(value) : typeof value === 'string' && isAmountText(value)
}

/** The zod schema of an amount field; `description` becomes the field's doc comment. */
export function amountSchema(description: string) {
  return z
    .union([z.number(), z.string()], { error: AMOUNT_EXPECTED })
    .refine(isAmount, { error: AMOUNT_EXPECTED })
    .describe(`${description} In R3MES (a number or a decimal string, at most 6 decimals).`)
}

/** R3MES amount → ur3mes base units, exactly. The value must satisfy `isAmount`. */
export function toBaseUnits(value: number | string): bigint {
  const text = typeof value === 'number' ? value.toFixed(DECIMALS) : value
  const [whole, fraction = ''] = text.split('.')
  return BigInt(whole as string) * UNITS_PER_TOKEN + BigInt(fraction.padEnd(DECIMALS, '0'))
}

/** ur3mes → a readable R3MES amount, for messages. */
export function formatAmount(units: bigint): string {
  const whole = units / UNITS_PER_TOKEN
  const fraction = (units % UNITS_PER_TOKEN).toString().padStart(DECIMALS, '0').replace(/0+$/, '')
  return fraction === '' ? `${whole} R3MES` : `${whole}.${fraction} R3MES`
}
