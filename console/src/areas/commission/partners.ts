// Partner names for the lists of this area: the partners the caller may see, fetched once.
import { computed, reactive } from 'vue'
import { api, unwrap } from '@/api/client'

interface PartnerName {
  id: number
  code: string
  name: string
}

const state = reactive<{ partners: PartnerName[]; asked: boolean }>({ partners: [], asked: false })

async function loadAll(): Promise<void> {
  const found: PartnerName[] = []
  for (let page = 1; page <= 50; page++) {
    const answer = unwrap(await api.GET('/api/v1/partners', { params: { query: { page, per_page: 100 } } }))
    for (const p of answer.items ?? []) found.push({ id: p.id ?? 0, code: p.code ?? '', name: p.name ?? '' })
    if (found.length >= (answer.total ?? 0) || (answer.items ?? []).length === 0) break
  }
  state.partners = found
}

/** The partners in the caller's scope and the name of one by id. */
export function usePartners() {
  if (!state.asked) {
    state.asked = true
    loadAll().catch(() => {
      state.asked = false
    })
  }
  const byId = computed(() => new Map(state.partners.map((p) => [p.id, p])))
  function partnerName(id: number | null | undefined): string {
    if (id === null || id === undefined) return '—'
    const partner = byId.value.get(id)
    return partner ? partner.name : `#${id}`
  }
  return { partners: computed(() => state.partners), partnerName }
}
