// Rates are typed as percent and sent as decimal fractions; both conversions move the
// decimal point in the string so that no binary rounding creeps into a rule.

/** The API keeps six places of a rate: four decimals of a percent. */
const PERCENT = /^(\d{1,3})(?:\.(\d{1,4}))?$/

function trim(whole: string, fraction: string): string {
  const w = whole.replace(/^0+(?=\d)/, '') || '0'
  const f = fraction.replace(/0+$/, '')
  return f ? `${w}.${f}` : w
}

/** "8" → "0.08", "12.5" → "0.125"; null when it is not a percent from 0 to 100. */
export function percentToRate(percent: string): string | null {
  const match = PERCENT.exec(percent.trim())
  if (!match) return null
  const whole = match[1].padStart(3, '0')
  const fraction = match[2] ?? ''
  if (whole > '100' || (whole === '100' && /[1-9]/.test(fraction))) return null
  return trim(whole.slice(0, -2), whole.slice(-2) + fraction)
}

/** "0.08" → "8", "0.125000" → "12.5". */
export function rateToPercent(rate: string | null | undefined): string {
  if (rate === null || rate === undefined || rate === '') return ''
  const [whole, fraction = ''] = rate.split('.')
  const padded = fraction.padEnd(2, '0')
  return trim(whole + padded.slice(0, 2), padded.slice(2))
}

/** "8 %" for a rate from the API. */
export function ratePercent(rate: string | null | undefined): string {
  const shown = rateToPercent(rate)
  return shown ? `${shown} %` : '—'
}
