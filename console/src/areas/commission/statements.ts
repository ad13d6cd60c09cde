// The actions on a statement, shared by the list and the detail page.
import { ElMessageBox } from 'element-plus'
import { api, unwrap } from '@/api/client'
import type { components } from '@/api/schema'
import { attempt } from '@/feedback'
import { money } from '@/format'
import { translate as t } from '@/i18n'
import { can, isHq, isPartner } from '@/session'

export type Statement = components['schemas']['StatementOut']

export function mayConfirm(s: Statement): boolean {
  return s.status === 'issued' && isPartner.value && can('commission.confirm')
}

export function mayPay(s: Statement): boolean {
  return s.status === 'confirmed' && isHq.value && can('commission.pay')
}

/** Asks, then confirms ``s``; true when it was confirmed. */
export async function confirmStatement(s: Statement): Promise<boolean> {
  try {
    await ElMessageBox.confirm(
      t('commission.statements.confirmAsk', { period: s.period, amount: money(s.total_amount) }),
      t('commission.statements.confirm'),
      { confirmButtonText: t('common.confirm'), cancelButtonText: t('common.cancel'), type: 'warning' },
    )
  } catch {
    return false
  }
  return attempt(
    async () => unwrap(await api.POST('/api/v1/commission/statements/{statement_id}/confirm', { params: { path: { statement_id: s.id ?? 0 } } })),
    t('commission.statements.confirmed'),
  )
}

/** Asks for the payment reference, then records ``s`` as paid; true when it was. */
export async function payStatement(s: Statement): Promise<boolean> {
  let paymentRef: string
  try {
    const answer = await ElMessageBox.prompt(t('commission.statements.payPrompt'), t('commission.statements.payTitle'), {
      confirmButtonText: t('commission.statements.pay'),
      cancelButtonText: t('common.cancel'),
      inputValidator: (value: string) => (value && value.trim() ? true : t('commission.statements.paymentRefRequired')),
    })
    paymentRef = answer.value.trim()
  } catch {
    return false
  }
  return attempt(
    async () =>
      unwrap(
        await api.POST('/api/v1/commission/statements/{statement_id}/pay', {
          params: { path: { statement_id: s.id ?? 0 } },
          body: { payment_ref: paymentRef },
        }),
      ),
    t('commission.statements.paid'),
  )
}
