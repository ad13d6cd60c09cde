// The events a channel may subscribe to (the API's ChannelIn.events), in groups for the
// picker; none chosen means every event.
import type { components } from '@/api/schema'

export const EVENT_GROUPS: { group: string; events: EventKind[] }[] = [
  { group: 'filing', events: ['filing_submitted', 'filing_step_waiting', 'filing_approved', 'filing_rejected'] },
  {
    group: 'customer',
    events: ['customer_claimed', 'customer_released', 'customer_transferred', 'protection_ending', 'idle_release_near', 'partner_handover_done'],
  },
  { group: 'extension', events: ['extension_requested', 'extension_step_waiting', 'extension_approved', 'extension_rejected'] },
  { group: 'lead', events: ['lead_assigned', 'leads_assigned', 'lead_claim_deadline_near', 'lead_claim_deadlines_near'] },
  { group: 'order', events: ['order_step_waiting', 'order_approved', 'order_rejected', 'order_commented'] },
  { group: 'money', events: ['payment_due_soon', 'payment_overdue', 'commission_entry_created', 'statement_issued'] },
]

export type EventKind = NonNullable<components['schemas']['ChannelIn']['events']>[number]
