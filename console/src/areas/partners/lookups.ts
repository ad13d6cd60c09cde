// Partner names, types and grades for showing codes and ids as words; each fetched once per
// session (names: once per id) and shared by the pages that show partners.
import { reactive } from 'vue'
import { api, unwrap } from '@/api/client'
import type { components } from '@/api/schema'

export type Partner = components['schemas']['PartnerOut']
export type PartnerType = components['schemas']['PartnerTypeOut']
export type PartnerGrade = components['schemas']['PartnerGradeOut']

const names = reactive<Record<number, string>>({})
const asked = new Set<number>()

export function rememberPartner(partner: Partner): void {
  if (partner.id !== undefined) names[partner.id] = `${partner.name ?? ''} (${partner.code ?? partner.id})`
}

/** "杭州城市合伙人 (HZ01)" for a partner id (the id until it has arrived). */
export function partnerName(id: number | null | undefined): string {
  if (id === null || id === undefined) return '—'
  if (!asked.has(id)) {
    asked.add(id)
    void api
      .GET('/api/v1/partners/{partner_id}', { params: { path: { partner_id: id } } })
      .then((answer) => rememberPartner(unwrap(answer)))
      .catch(() => undefined)
  }
  return names[id] ?? `#${id}`
}

export const reference = reactive<{ types: PartnerType[]; grades: PartnerGrade[] }>({ types: [], grades: [] })
let loading: Promise<void> | null = null

/** Partner types and grades; `force` after they were changed. */
export function loadReference(force = false): Promise<void> {
  if (!loading || force) {
    loading = Promise.all([api.GET('/api/v1/partner-types'), api.GET('/api/v1/partner-grades')])
      .then(([types, grades]) => {
        reference.types = unwrap(types)
        reference.grades = unwrap(grades)
      })
      .catch(() => {
        loading = null
      })
  }
  return loading
}

export function typeName(code: string | null | undefined): string {
  if (!code) return '—'
  return reference.types.find((type) => type.code === code)?.name ?? code
}

export function gradeName(code: string | null | undefined): string {
  if (!code) return '—'
  return reference.grades.find((grade) => grade.code === code)?.name ?? code
}
