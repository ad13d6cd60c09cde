// Telling the user what happened: a problem answer's stable code in the user's language
// (errors.<code> in the catalogue), else the API's own words.
import { ElMessage } from 'element-plus'
import { ApiError } from './api/client'
import { known, translate } from './i18n'

export function problemText(error: unknown): string {
  const t = translate
  const te = known
  if (error instanceof ApiError) {
    const key = `errors.${error.code}`
    const known = te(key) ? t(key) : error.detail || t('errors.unknown')
    const fields = Object.entries(error.errors ?? {})
      .map(([field, problems]) => `${field}: ${Array.isArray(problems) ? problems.join('; ') : JSON.stringify(problems)}`)
      .join('；')
    return fields ? `${known}（${fields}）` : known
  }
  return t('errors.network')
}

export function showError(error: unknown): void {
  ElMessage({ type: 'error', message: problemText(error), showClose: true, duration: 6000 })
}

export function showDone(message?: string): void {
  ElMessage({ type: 'success', message: message ?? translate('common.done') })
}

/** Runs ``action`` and shows its problem, if any; true when it succeeded. */
export async function attempt(action: () => Promise<unknown>, done?: string): Promise<boolean> {
  try {
    await action()
    if (done !== undefined) showDone(done)
    return true
  } catch (error) {
    showError(error)
    return false
  }
}
