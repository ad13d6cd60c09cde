// Partner names for the ids in leads, filings, orders and extensions: one page of the
// partners the caller sees, then one partner at a time for the rest, kept for the session.
import { reactive } from 'vue'
import { api, unwrap } from '@/api/client'

const names = reactive<Record<number, string>>({})
const asked = new Set<number>()
let firstPage: Promise<void> | null = null

async function loadFirstPage(): Promise<void> {
  try {
    const page = unwrap(await api.GET('/api/v1/partners', { params: { query: { per_page: 100 } } }))
    for (const partner of page.items ?? []) if (partner.id) names[partner.id] = partner.name ?? String(partner.id)
  } catch {
    // Names are a courtesy: the ids stay readable.
  }
}

async function loadOne(id: number): Promise<void> {
  await (firstPage ??= loadFirstPage())
  if (names[id] !== undefined) return
  try {
    const partner = unwrap(await api.GET('/api/v1/partners/{partner_id}', { params: { path: { partner_id: id } } }))
    names[id] = partner.name ?? String(id)
  } catch {
    names[id] = `#${id}`
  }
}

/** The partner's name (its id until the name has arrived). */
export function partnerName(id: number | null | undefined): string {
  if (id === null || id === undefined) return '—'
  if (names[id] !== undefined) return names[id]
  if (!asked.has(id)) {
    asked.add(id)
    void loadOne(id)
  }
  return `#${id}`
}
