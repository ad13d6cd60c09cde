// What the order, payment and product pages share: partner names for HQ lists, and the
// API's per-field words from a 422 answer.
import { reactive } from 'vue'
import { ElMessage } from 'element-plus'
import { api, ApiError, unwrap } from '@/api/client'
import { problemText } from '@/feedback'
import { known, translate } from '@/i18n'
import { isHq } from '@/session'

const names = reactive<Record<number, string>>({})
let loading: Promise<void> | null = null

/** Loads the partners' names once (HQ sees every partner; a partner user needs none). */
export function loadPartnerNames(): Promise<void> {
  if (!isHq.value) return Promise.resolve()
  loading ??= (async () => {
    for (let page = 1; page <= 20; page += 1) {
      const answer = unwrap(await api.GET('/api/v1/partners', { params: { query: { page, per_page: 100 } } }))
      for (const partner of answer.items ?? []) {
        if (partner.id !== undefined) names[partner.id] = partner.name ?? partner.code ?? String(partner.id)
      }
      if (page * 100 >= (answer.total ?? 0)) break
    }
  })().catch(() => {
    loading = null
  })
  return loading
}

export function partnerName(id: number | null | undefined): string {
  if (id === null || id === undefined) return '—'
  return names[id] ?? `#${id}`
}

/** Every partner whose name is known, for a filter. */
export function partnerOptions(): Array<{ value: number; label: string }> {
  return Object.entries(names)
    .map(([id, label]) => ({ value: Number(id), label }))
    .sort((a, b) => a.label.localeCompare(b.label, 'zh-CN'))
}

function words(node: unknown): string {
  if (node === null || node === undefined) return ''
  if (typeof node === 'string') return node
  if (Array.isArray(node)) return node.map(words).filter(Boolean).join('; ')
  if (typeof node === 'object') return Object.values(node as Record<string, unknown>).map(words).filter(Boolean).join('; ')
  return String(node)
}

/** The API's words about one field of a refused request (``'lines', 0, 'unit_price'``), or ''. */
export function fieldError(error: unknown, ...path: Array<string | number>): string {
  if (!(error instanceof ApiError)) return ''
  let node: unknown = error.errors
  for (const key of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return ''
    node = (node as Record<string, unknown>)[String(key)]
  }
  return words(node)
}

/** Today in the user's calendar, as the API's dates are written (YYYY-MM-DD). */
export function today(): string {
  const now = new Date()
  const pad = (n: number): string => String(n).padStart(2, '0')
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`
}

/** What went wrong, in words: this area's own problem codes (orders.problems.<code>) first;
 * a refusal naming fields is told in a word, the form shows the fields' words beside them. */
export function problemWords(error: unknown): string {
  if (error instanceof ApiError) {
    const own = `orders.problems.${error.code}`
    if (known(own)) return translate(own)
    if (Object.keys(error.errors ?? {}).length > 0) {
      const key = `errors.${error.code}`
      return known(key) ? translate(key) : error.detail
    }
  }
  return problemText(error)
}

export function showProblem(error: unknown): void {
  ElMessage({ type: 'error', message: problemWords(error), showClose: true, duration: 6000 })
}
