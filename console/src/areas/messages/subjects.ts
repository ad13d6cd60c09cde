// Where a message's subject lives in the console. Filings and extensions have no page of
// their own: they open their customer.
import { api, unwrap } from '@/api/client'

export async function subjectPath(type: string | null | undefined, id: number | null | undefined): Promise<string | null> {
  if (!type || !id) return null
  switch (type) {
    case 'customer':
      return `/customers/${id}`
    case 'order':
      return `/orders/${id}`
    case 'lead':
      return `/leads/${id}`
    case 'statement':
      return `/commissions/statements/${id}`
    case 'partner':
      return `/partners/${id}`
    case 'commission_entry':
      return '/commissions'
    case 'notification_channel':
      return '/channels'
    case 'filing': {
      const filing = unwrap(await api.GET('/api/v1/filings/{filing_id}', { params: { path: { filing_id: id } } }))
      return filing.customer_id ? `/customers/${filing.customer_id}` : null
    }
    case 'extension': {
      const extension = unwrap(await api.GET('/api/v1/extensions/{extension_id}', { params: { path: { extension_id: id } } }))
      return extension.customer_id ? `/customers/${extension.customer_id}` : null
    }
    default:
      return null
  }
}
