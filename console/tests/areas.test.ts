// The pure helpers of the console's areas: money in cents, rates as percent, the filing
// pre-check, the dashboard's business month.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { percentToRate, ratePercent, rateToPercent } from '@/areas/commission/rate'
import { checkBody, debounce, mobileDigits, sameBody, usccOrNull } from '@/areas/customers/precheck'
import { businessDay, currentPeriod, daysLeft, dueWithin, monthSoFar, sumMoney as dashboardSum } from '@/areas/dashboard/dashboard'
import { fromCents, isMoney, lineAmount, subtractMoney, sumMoney, toCents } from '@/areas/orders/decimal'

describe('orders: money in cents', () => {
  it('reads and writes amounts exactly', () => {
    expect(toCents('1250.00')).toBe(125000n)
    expect(toCents('0.1')).toBe(10n)
    expect(toCents('-3.05')).toBe(-305n)
    expect(toCents(12)).toBe(1200n)
    expect(fromCents(125000n)).toBe('1250.00')
    expect(fromCents(-5n)).toBe('-0.05')
  })

  it('refuses what is not an amount of at most two places', () => {
    for (const bad of ['1.005', 'abc', '', '1e3', '1,000.00', null, undefined]) expect(toCents(bad)).toBeNull()
    expect(isMoney('10.00')).toBe(true)
    expect(isMoney('-1.00')).toBe(false)
    expect(isMoney('1.234')).toBe(false)
  })

  it('multiplies and adds without floating point', () => {
    expect(lineAmount(3, '999.99')).toBe('2999.97')
    expect(lineAmount(3, '0.10')).toBe('0.30')
    expect(lineAmount(1.5, '10.00')).toBeNull()
    expect(lineAmount(null, '10.00')).toBeNull()
    expect(sumMoney(['0.10', '0.20'])).toBe('0.30')
    expect(sumMoney(['2999.97', '150000.00'])).toBe('152999.97')
    expect(sumMoney(['1.00', 'x'])).toBeNull()
    expect(subtractMoney('100.00', '0.01')).toBe('99.99')
    expect(subtractMoney('1.00', '2.50')).toBe('-1.50')
  })
})

describe('commission: rates as percent', () => {
  it('moves the decimal point in the string', () => {
    expect(percentToRate('8')).toBe('0.08')
    expect(percentToRate('12.5')).toBe('0.125')
    expect(percentToRate('0.0001')).toBe('0.000001')
    expect(percentToRate('100')).toBe('1')
    expect(percentToRate('0')).toBe('0')
  })

  it('refuses a percent beyond 0 to 100 or of more than four places', () => {
    for (const bad of ['100.01', '101', '-1', '8.12345', 'abc', '']) expect(percentToRate(bad)).toBeNull()
  })

  it('shows an API rate as percent', () => {
    expect(rateToPercent('0.08')).toBe('8')
    expect(rateToPercent('0.125000')).toBe('12.5')
    expect(rateToPercent('1')).toBe('100')
    expect(rateToPercent(null)).toBe('')
    expect(ratePercent('0.03')).toBe('3 %')
    expect(ratePercent(undefined)).toBe('—')
  })

  it('round-trips', () => {
    for (const percent of ['8', '3', '12.5', '0.25', '99.9999']) expect(rateToPercent(percentToRate(percent))).toBe(percent)
  })
})

describe('customers: the filing pre-check', () => {
  it('reads a mainland mobile number however it is written', () => {
    expect(mobileDigits('139 1234 5678')).toBe('13912345678')
    expect(mobileDigits('+86 139-1234-5678')).toBe('13912345678')
    expect(mobileDigits('0086(139)12345678')).toBe('13912345678')
    expect(mobileDigits('1391234567')).toBeNull()
    expect(mobileDigits('12912345678')).toBeNull()
    expect(mobileDigits(null)).toBeNull()
  })

  it('takes a credit code of the right shape only', () => {
    // I, O, S, V and Z are not in a credit code's alphabet.
    expect(usccOrNull('91330106MA2B3C4D5I')).toBeNull()
    expect(usccOrNull(' 91330106ma2b3c4d5e ')).toBe('91330106MA2B3C4D5E')
    expect(usccOrNull('91330106MA2B3C4D5E')).toBe('91330106MA2B3C4D5E')
    expect(usccOrNull('91330106ma2b3c4d5e')).toBe('91330106MA2B3C4D5E')
    expect(usccOrNull('9133')).toBeNull()
  })

  it('asks nothing before two characters of a name, and leaves half-typed fields out', () => {
    expect(checkBody({ name: '杭' })).toBeNull()
    expect(checkBody({ name: ' 杭州 ', uscc: '9133', phone: '1391' })).toEqual({ name: '杭州', uscc: null, phone: null })
    expect(checkBody({ name: '杭州云帆', phone: '13912345678' })).toEqual({ name: '杭州云帆', uscc: null, phone: '13912345678' })
    expect(sameBody(checkBody({ name: '杭州' }), { name: '杭州', uscc: null, phone: null })).toBe(true)
    expect(sameBody(null, { name: '杭州', uscc: null, phone: null })).toBe(false)
  })

  it('debounces: one call with the last arguments, none after cancel', () => {
    vi.useFakeTimers()
    try {
      const seen: string[] = []
      const later = debounce((value: string) => seen.push(value), 400)
      later('a')
      later('ab')
      vi.advanceTimersByTime(399)
      expect(seen).toEqual([])
      vi.advanceTimersByTime(1)
      expect(seen).toEqual(['ab'])
      later('abc')
      later.cancel()
      vi.advanceTimersByTime(1000)
      expect(seen).toEqual(['ab'])
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('dashboard: the business month and what is due', () => {
  afterEach(() => vi.useRealTimers())

  it('counts days and months in Shanghai', () => {
    // 16:30 UTC on 30 November is already 1 December in Shanghai.
    const late = new Date('2026-11-30T16:30:00Z')
    expect(businessDay(late)).toBe('2026-12-01')
    expect(currentPeriod(late)).toBe('2026-12')
    expect(monthSoFar(late)).toEqual({ from: '2026-12-01', to: '2026-12-01' })
    expect(currentPeriod(new Date('2026-11-30T15:59:00Z'))).toBe('2026-11')
  })

  it('adds money strings exactly', () => {
    expect(dashboardSum(['1999.50', '2400.00', null, '-0.50'])).toBe('4399.00')
    expect(dashboardSum([])).toBe('0.00')
  })

  it('says what falls due soon and how many days are left', () => {
    const now = Date.parse('2026-12-03T00:00:00Z')
    const day = 86_400_000
    expect(dueWithin(new Date(now + 29 * day).toISOString(), 30, now)).toBe(true)
    expect(dueWithin(new Date(now + 31 * day).toISOString(), 30, now)).toBe(false)
    expect(dueWithin(new Date(now - day).toISOString(), 30, now)).toBe(false)
    expect(dueWithin(null, 30, now)).toBe(false)
    expect(daysLeft(new Date(now + 1.2 * day).toISOString(), now)).toBe(2)
    expect(daysLeft(new Date(now - day).toISOString(), now)).toBe(0)
    expect(daysLeft('soon', now)).toBe(0)
  })
})
