// Money, dates and codes as people read them.
import { currentLocale, translate } from './i18n'

export function money(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—'
  const [whole, cents = '00'] = String(value).split('.')
  const negative = whole.startsWith('-')
  const digits = negative ? whole.slice(1) : whole
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return `${negative ? '-' : ''}¥${grouped}.${cents.padEnd(2, '0').slice(0, 2)}`
}

export function percent(rate: string | number | null | undefined): string {
  if (rate === null || rate === undefined || rate === '') return '—'
  const value = Number(rate) * 100
  return `${Number(value.toFixed(4))} %`
}

export function dateTime(value: string | null | undefined): string {
  if (!value) return '—'
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) return value
  return date.toLocaleString(currentLocale() === 'en' ? 'en-GB' : 'zh-CN', { hour12: false })
}

export function date(value: string | null | undefined): string {
  if (!value) return '—'
  return value.slice(0, 10)
}

/** "2 天 3 小时" until ``deadline`` (negative: past). */
export function countdown(deadline: string | null | undefined, now: number = Date.now()): string {
  if (!deadline) return '—'
  const t = translate
  const left = new Date(deadline).getTime() - now
  if (Number.isNaN(left)) return '—'
  if (left <= 0) return t('common.overdue')
  const hours = Math.floor(left / 3_600_000)
  const minutes = Math.floor((left % 3_600_000) / 60_000)
  if (hours >= 24) return t('common.daysHours', { days: Math.floor(hours / 24), hours: hours % 24 })
  return t('common.hoursMinutes', { hours, minutes })
}
