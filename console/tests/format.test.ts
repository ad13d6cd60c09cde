import { beforeEach, describe, expect, it } from 'vitest'
import { countdown, date, money, percent } from '@/format'
import { setLocale } from '@/i18n'

describe('money', () => {
  it('groups thousands and keeps the cents the API gave', () => {
    expect(money('1250.00')).toBe('¥1,250.00')
    expect(money('152999.97')).toBe('¥152,999.97')
    expect(money('1234567.5')).toBe('¥1,234,567.50')
    expect(money('999')).toBe('¥999.00')
    expect(money(0)).toBe('¥0.00')
  })

  it('keeps the sign of a reversal', () => {
    expect(money('-3000.00')).toBe('-¥3,000.00')
    expect(money('-1666.67')).toBe('-¥1,666.67')
  })

  it('never rounds through floating point', () => {
    // 0.1 + 0.2 style errors would show here if the value went through Number.
    expect(money('9007199254740993.99')).toBe('¥9,007,199,254,740,993.99')
    expect(money('0.105')).toBe('¥0.10')
  })

  it('shows a dash for nothing', () => {
    expect(money(null)).toBe('—')
    expect(money(undefined)).toBe('—')
    expect(money('')).toBe('—')
  })
})

describe('percent', () => {
  it('turns a rate into a percentage without float noise', () => {
    expect(percent('0.08')).toBe('8 %')
    expect(percent('0.07')).toBe('7 %')
    expect(percent('0.125')).toBe('12.5 %')
    expect(percent('0.0333')).toBe('3.33 %')
    expect(percent(1)).toBe('100 %')
    expect(percent('0')).toBe('0 %')
  })

  it('shows a dash for nothing', () => {
    expect(percent(null)).toBe('—')
    expect(percent('')).toBe('—')
  })
})

describe('date', () => {
  it('keeps the day of an ISO timestamp', () => {
    expect(date('2026-03-01T08:00:00Z')).toBe('2026-03-01')
    expect(date(null)).toBe('—')
  })
})

describe('countdown', () => {
  const now = Date.parse('2026-12-03T08:00:00Z')
  const later = (ms: number): string => new Date(now + ms).toISOString()
  const HOUR = 3_600_000

  beforeEach(() => setLocale('zh-CN'))

  it('says days and hours beyond a day', () => {
    expect(countdown(later(2 * 24 * HOUR + 3 * HOUR + 59_000), now)).toBe('2 天 3 小时')
    expect(countdown(later(24 * HOUR), now)).toBe('1 天 0 小时')
  })

  it('says hours and minutes within a day', () => {
    expect(countdown(later(5 * HOUR + 7 * 60_000 + 30_000), now)).toBe('5 小时 7 分')
    expect(countdown(later(59_000), now)).toBe('0 小时 0 分')
  })

  it('says overdue once the deadline has passed', () => {
    expect(countdown(later(0), now)).toBe('已超时')
    expect(countdown(later(-HOUR), now)).toBe('已超时')
  })

  it('speaks the chosen language', () => {
    setLocale('en')
    expect(countdown(later(26 * HOUR), now)).toBe('1 d 2 h')
    expect(countdown(later(-1), now)).toBe('Overdue')
  })

  it('shows a dash for no deadline or a bad one', () => {
    expect(countdown(null, now)).toBe('—')
    expect(countdown('not a date', now)).toBe('—')
  })
})
