// The dashboard's arithmetic: the business month (Asia/Shanghai, as the API's periods and
// reports count it), sums of money strings in whole cents, and what is due soon.

const SHANGHAI = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' })

/** "2026-12-03": the calendar day in Shanghai at ``now``. */
export function businessDay(now: Date = new Date()): string {
  return SHANGHAI.format(now)
}

/** "2026-12": the commission period (a month) at ``now``. */
export function currentPeriod(now: Date = new Date()): string {
  return businessDay(now).slice(0, 7)
}

/** This month so far, as the reports' ``from`` and ``to`` (both included). */
export function monthSoFar(now: Date = new Date()): { from: string; to: string } {
  const today = businessDay(now)
  return { from: `${today.slice(0, 7)}-01`, to: today }
}

const HUNDRED = BigInt(100)

function cents(value: string): bigint {
  const text = value.trim()
  const negative = text.startsWith('-')
  const [whole, fraction = ''] = text.replace(/^[-+]/, '').split('.')
  const amount = BigInt(whole || '0') * HUNDRED + BigInt(`${fraction}00`.slice(0, 2))
  return negative ? -amount : amount
}

/** The sum of decimal money strings ("1250.00"), exact: no floating point on the way. */
export function sumMoney(values: (string | null | undefined)[]): string {
  let total = BigInt(0)
  for (const value of values) if (value) total += cents(value)
  const negative = total < BigInt(0)
  const size = negative ? -total : total
  return `${negative ? '-' : ''}${size / HUNDRED}.${String(size % HUNDRED).padStart(2, '0')}`
}

/** True when ``deadline`` falls between ``now`` and ``days`` days later. */
export function dueWithin(deadline: string | null | undefined, days: number, now: number = Date.now()): boolean {
  if (!deadline) return false
  const at = new Date(deadline).getTime()
  return !Number.isNaN(at) && at >= now && at <= now + days * 86_400_000
}

/** Days left until ``deadline`` (rounded up; 0 when past). */
export function daysLeft(deadline: string | null | undefined, now: number = Date.now()): number {
  if (!deadline) return 0
  const at = new Date(deadline).getTime()
  return Number.isNaN(at) ? 0 : Math.max(0, Math.ceil((at - now) / 86_400_000))
}
