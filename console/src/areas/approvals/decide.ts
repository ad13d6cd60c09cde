// Deciding one step of an approval (filing, extension, order): approve with an optional
// comment, reject with a required one. The answer says what went wrong, if anything, so
// the row can show it.
import { ElMessageBox } from 'element-plus'
import { ApiError, api, unwrap } from '@/api/client'
import { problemText } from '@/feedback'
import { known, translate as t } from '@/i18n'

export type Kind = 'filing' | 'extension' | 'order'
export type Decision = 'approve' | 'reject'

/** The comment, or null when the user cancelled. */
async function askComment(decision: Decision, what: string): Promise<string | null> {
  try {
    const answer = await ElMessageBox.prompt(
      decision === 'approve' ? t('approvals.approveHint') : t('approvals.rejectHint'),
      t(decision === 'approve' ? 'approvals.approveTitle' : 'approvals.rejectTitle', { what }),
      {
        inputType: 'textarea',
        inputPlaceholder: t('common.comment'),
        inputValidator: (value: string) => decision === 'approve' || (value && value.trim() ? true : t('approvals.commentRequired')),
        confirmButtonText: decision === 'approve' ? t('common.approve') : t('common.reject'),
        confirmButtonClass: decision === 'reject' ? 'el-button--danger' : undefined,
        cancelButtonText: t('common.cancel'),
      },
    )
    return ((answer as { value?: string }).value ?? '').trim()
  } catch {
    return null
  }
}

async function send(kind: Kind, id: number, decision: Decision, comment: string): Promise<void> {
  const body = decision === 'approve' ? { comment: comment || null } : { comment }
  if (kind === 'filing') {
    const path = decision === 'approve' ? '/api/v1/filings/{filing_id}/approve' : '/api/v1/filings/{filing_id}/reject'
    unwrap(await api.POST(path, { params: { path: { filing_id: id } }, body: body as { comment: string } }))
  } else if (kind === 'extension') {
    const path = decision === 'approve' ? '/api/v1/extensions/{extension_id}/approve' : '/api/v1/extensions/{extension_id}/reject'
    unwrap(await api.POST(path, { params: { path: { extension_id: id } }, body: body as { comment: string } }))
  } else {
    const path = decision === 'approve' ? '/api/v1/orders/{order_id}/approve' : '/api/v1/orders/{order_id}/reject'
    unwrap(await api.POST(path, { params: { path: { order_id: id } }, body: body as { comment: string } }))
  }
}

/** The problem in words, with this area's words for codes the shared catalogue lacks. */
export function decisionProblem(error: unknown): string {
  if (error instanceof ApiError && known(`approvals.problems.${error.code}`)) return t(`approvals.problems.${error.code}`)
  return problemText(error)
}

export type Outcome = { done: true } | { done: false; cancelled: true } | { done: false; cancelled: false; problem: string }

export async function decide(kind: Kind, id: number, decision: Decision, what: string): Promise<Outcome> {
  const comment = await askComment(decision, what)
  if (comment === null) return { done: false, cancelled: true }
  try {
    await send(kind, id, decision, comment)
    return { done: true }
  } catch (error) {
    return { done: false, cancelled: false, problem: decisionProblem(error) }
  }
}
