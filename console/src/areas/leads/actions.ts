// What a partner does with a lead assigned to it: claim it (it becomes a protected
// customer) or decline it with a reason (it goes on to the next partner or back to HQ).
import { ElMessageBox } from 'element-plus'
import { api, unwrap } from '@/api/client'
import type { components } from '@/api/schema'
import { attempt } from '@/feedback'
import { translate as t } from '@/i18n'
import { router } from '@/router'

export type Lead = components['schemas']['LeadOut']

/** Claims the lead and opens its customer; false when the API refused. */
export async function claimLead(lead: Lead): Promise<boolean> {
  let customerId: number | undefined
  const ok = await attempt(async () => {
    const customer = unwrap(await api.POST('/api/v1/leads/{lead_id}/claim', { params: { path: { lead_id: lead.id as number } } }))
    customerId = customer.id
  }, t('leads.claimed'))
  if (ok && customerId) await router.push(`/customers/${customerId}`)
  return ok
}

/** Asks for the reason and declines; false when cancelled or refused. */
export async function declineLead(lead: Lead): Promise<boolean> {
  let reason: string
  try {
    const answer = await ElMessageBox.prompt(t('leads.declineReason'), t('leads.declineTitle', { name: lead.name }), {
      inputType: 'textarea',
      inputPlaceholder: t('common.reason'),
      inputValidator: (value: string) => (value && value.trim() ? true : t('leads.reasonRequired')),
      confirmButtonText: t('leads.decline'),
      cancelButtonText: t('common.cancel'),
    })
    reason = (answer as { value: string }).value.trim()
  } catch {
    return false
  }
  return attempt(async () => {
    unwrap(await api.POST('/api/v1/leads/{lead_id}/decline', { params: { path: { lead_id: lead.id as number } }, body: { reason } }))
  }, t('leads.declined'))
}

/** HQ may hand a lead nobody has claimed yet to a partner by hand. */
export function assignable(lead: Lead): boolean {
  return lead.status !== 'claimed'
}
