// Partner names for ids (the lists answer ids only) and the partner picker's search. Every
// user may list the partners in its scope: HQ all of them, a partner its own.
import { reactive } from 'vue'
import { api, unwrap } from '@/api/client'
import type { components } from '@/api/schema'

export type Partner = components['schemas']['PartnerOut']

const names = reactive<Record<number, string>>({})
let loading: Promise<void> | null = null

async function loadNames(): Promise<void> {
  // The first pages are enough for the names on screen; the rest show their id.
  for (let page = 1; page <= 5; page++) {
    const answer = unwrap(await api.GET('/api/v1/partners', { params: { query: { page, per_page: 100 } } }))
    for (const partner of answer.items ?? []) if (partner.id !== undefined) names[partner.id] = partner.name ?? String(partner.id)
    if (page * 100 >= (answer.total ?? 0)) break
  }
}

/** The partner's name ("#12" until it has arrived, or when the caller cannot see it). */
export function partnerName(id: number | null | undefined): string {
  if (id === null || id === undefined) return '—'
  loading ??= loadNames().catch(() => undefined)
  return names[id] ?? `#${id}`
}

/** Active partners whose name or code contains ``q``. */
export async function searchPartners(q: string): Promise<Partner[]> {
  const answer = unwrap(
    await api.GET('/api/v1/partners', { params: { query: { q: q || undefined, status: 'active', per_page: 20 } } }),
  )
  for (const partner of answer.items ?? []) if (partner.id !== undefined) names[partner.id] = partner.name ?? String(partner.id)
  return answer.items ?? []
}
