// Money as the API writes it ("1250.00"), added and multiplied in integer cents: a total
// on screen is the total the server will compute, never a floating-point approximation.

const MONEY = /^-?\d+(\.\d{0,2})?$/

/** The amount in cents, or null when ``value`` is not a decimal with at most two places. */
export function toCents(value: string | number | null | undefined): bigint | null {
  const text = String(value ?? '').trim()
  if (!MONEY.test(text)) return null
  const negative = text.startsWith('-')
  const [whole, fraction = ''] = text.replace('-', '').split('.')
  const cents = BigInt(whole) * 100n + BigInt(`${fraction}00`.slice(0, 2))
  return negative ? -cents : cents
}

/** "1250.00" for 125000n. */
export function fromCents(cents: bigint): string {
  const negative = cents < 0n
  const size = negative ? -cents : cents
  return `${negative ? '-' : ''}${size / 100n}.${(size % 100n).toString().padStart(2, '0')}`
}

/** True for an amount the API takes: not negative, at most two decimal places. */
export function isMoney(value: string | null | undefined): boolean {
  const cents = toCents(value)
  return cents !== null && cents >= 0n
}

/** ``quantity`` × ``unitPrice`` as a decimal string; null while either is not a number. */
export function lineAmount(quantity: number | null | undefined, unitPrice: string | null | undefined): string | null {
  const cents = toCents(unitPrice)
  if (cents === null || quantity === null || quantity === undefined || !Number.isInteger(quantity)) return null
  return fromCents(cents * BigInt(quantity))
}

/** The sum of ``values``; null if any of them is not an amount. */
export function sumMoney(values: Array<string | null | undefined>): string | null {
  let total = 0n
  for (const value of values) {
    const cents = toCents(value)
    if (cents === null) return null
    total += cents
  }
  return fromCents(total)
}

/** ``a`` − ``b``; null if either is not an amount. */
export function subtractMoney(a: string | null | undefined, b: string | null | undefined): string | null {
  const left = toCents(a)
  const right = toCents(b)
  return left === null || right === null ? null : fromCents(left - right)
}

/** A fresh Idempotency-Key. ``crypto.randomUUID`` exists only in secure contexts (https
 * or localhost); a console reached over plain http on the office network still gets a
 * random version-4 UUID. */
export function newKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[6] = (bytes[6] & 0x0f) | 0x40
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
