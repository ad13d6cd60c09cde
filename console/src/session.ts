// Who is signed in: the tokens (api/tokens.ts) and GET /me. The menu and the routes ask
// `can(permission)`; the API stays the real check.
import { computed, reactive } from 'vue'
import { api, unwrap } from './api/client'
import type { components } from './api/schema'
import { loadTokens, saveTokens } from './api/tokens'

export type Me = components['schemas']['MeOut']

export const session = reactive<{ me: Me | null }>({ me: null })

export const isHq = computed(() => session.me !== null && session.me.partner_id == null)
export const isPartner = computed(() => session.me !== null && session.me.partner_id != null)

export function can(...permissions: string[]): boolean {
  const held = session.me?.permissions ?? []
  return permissions.some((p) => held.includes(p))
}

export async function loadMe(): Promise<Me> {
  session.me = unwrap(await api.GET('/api/v1/me'))
  return session.me
}

export async function signIn(username: string, password: string): Promise<Me> {
  const tokens = unwrap(await api.POST('/api/v1/auth/login', { body: { username, password } }))
  saveTokens(tokens as { access_token: string; refresh_token: string })
  return loadMe()
}

export async function signOut(): Promise<void> {
  const tokens = loadTokens()
  try {
    if (tokens) await api.POST('/api/v1/auth/logout', { body: { refresh_token: tokens.refresh_token } })
  } catch {
    // Signed out here whatever the API says.
  }
  saveTokens(null)
  session.me = null
}
