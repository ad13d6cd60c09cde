// The one message catalogue: src/i18n/<locale>/<area>.ts, each exporting a default object
// of that area's messages (one file per area of the console), merged here. Chinese first.
import type { Ref } from 'vue'
import { createI18n } from 'vue-i18n'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Messages = Record<string, any>

function deepMerge(into: Messages, from: Messages): Messages {
  for (const [key, value] of Object.entries(from)) {
    const held = into[key]
    into[key] =
      held && typeof held === 'object' && value && typeof value === 'object' ? deepMerge({ ...held }, value) : value
  }
  return into
}

/** Every area's messages in one tree: an area may add keys to a shared branch (errors.*). */
function merge(modules: Record<string, { default: Messages }>): Messages {
  return Object.values(modules).reduce<Messages>((all, module) => deepMerge(all, module.default), {})
}

export const messages = {
  'zh-CN': merge(import.meta.glob<{ default: Messages }>('./zh-CN/*.ts', { eager: true })),
  en: merge(import.meta.glob<{ default: Messages }>('./en/*.ts', { eager: true })),
}

export type Locale = keyof typeof messages
export const LOCALES: Locale[] = ['zh-CN', 'en']

function initial(): Locale {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem('prm.locale') : null
  return saved === 'en' ? 'en' : 'zh-CN'
}

export const i18n = createI18n({
  legacy: false,
  locale: initial(),
  fallbackLocale: 'zh-CN',
  messages,
  missingWarn: false,
  fallbackWarn: false,
})

const current = i18n.global.locale as unknown as Ref<string>

/** The language the console speaks now. */
export function currentLocale(): Locale {
  return current.value === 'en' ? 'en' : 'zh-CN'
}

export function setLocale(locale: Locale): void {
  current.value = locale
  localStorage.setItem('prm.locale', locale)
  document.documentElement.lang = locale
}

// Loosely typed access for code outside components (the catalogue's keys are not typed).
const composer = i18n.global as unknown as {
  t: (key: string, params?: Record<string, unknown>) => string
  te: (key: string) => boolean
}

/** The message ``key`` in the current language. */
export function translate(key: string, params?: Record<string, unknown>): string {
  return params ? composer.t(key, params) : composer.t(key)
}

/** True when the catalogue has ``key``. */
export function known(key: string): boolean {
  return composer.te(key)
}
