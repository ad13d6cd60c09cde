// The API's own access and refresh tokens, kept in the browser's local storage.
const KEY = 'prm.tokens'

export interface Tokens {
  access_token: string
  refresh_token: string
}

export function loadTokens(): Tokens | null {
  try {
    const raw = localStorage.getItem(KEY)
    return raw ? (JSON.parse(raw) as Tokens) : null
  } catch {
    return null
  }
}

export function saveTokens(tokens: Tokens | null): void {
  if (tokens) localStorage.setItem(KEY, JSON.stringify({ access_token: tokens.access_token, refresh_token: tokens.refresh_token }))
  else localStorage.removeItem(KEY)
}
