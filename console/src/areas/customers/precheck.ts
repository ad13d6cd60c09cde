// The duplicate pre-check of the filing form (POST /customers/check) as one types: asked
// after a pause, only with what the API would accept, and only the latest answer counts.

/** A unified social credit code's shape (its check character is left to the API). */
const USCC_SHAPE = /^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$/i

/** 11 digits of a mainland mobile number, or null (+86, spaces, dashes and brackets allowed). */
export function mobileDigits(value: string | null | undefined): string | null {
  let digits = (value ?? '').replace(/[\s()-]/g, '')
  if (digits.startsWith('+86')) digits = digits.slice(3)
  else if (digits.startsWith('0086')) digits = digits.slice(4)
  return /^1[3-9][0-9]{9}$/.test(digits) ? digits : null
}

export function usccOrNull(value: string | null | undefined): string | null {
  const code = (value ?? '').trim().toUpperCase()
  return USCC_SHAPE.test(code) ? code : null
}

export interface CheckBody {
  name: string
  uscc: string | null
  phone: string | null
}

/** The body of a pre-check for what has been typed, or null while there is nothing to ask
 * (a name needs two characters; a half-typed code or number is left out rather than sent). */
export function checkBody(form: { name?: string | null; uscc?: string | null; phone?: string | null }): CheckBody | null {
  const name = (form.name ?? '').trim()
  if (name.length < 2) return null
  return { name, uscc: usccOrNull(form.uscc), phone: mobileDigits(form.phone) }
}

/** The same body as before: no new question to ask. */
export function sameBody(a: CheckBody | null, b: CheckBody | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export interface Debounced<A extends unknown[]> {
  (...args: A): void
  cancel: () => void
}

/** ``fn`` called ``wait`` ms after the last of a burst of calls, with that call's arguments. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, wait: number): Debounced<A> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const debounced = ((...args: A) => {
    clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      fn(...args)
    }, wait)
  }) as Debounced<A>
  debounced.cancel = () => {
    clearTimeout(timer)
    timer = undefined
  }
  return debounced
}

/** The pause after the last keystroke before the pre-check asks. */
export const CHECK_PAUSE_MS = 400
