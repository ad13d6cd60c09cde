import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError, authorizedFetch, onSignedOut, unwrap } from '@/api/client'
import { loadTokens, saveTokens } from '@/api/tokens'

const BASE = 'http://console.test'
const json = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

/** A fake API: the access token "fresh" is valid; refresh answers with ``refreshAnswer``. */
function fakeApi(refreshAnswer: () => Response) {
  const seen: { url: string; auth: string | null; body?: string }[] = []
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), BASE), init)
    const body = request.method === 'POST' ? await request.clone().text() : undefined
    seen.push({ url: new URL(request.url).pathname, auth: request.headers.get('Authorization'), body })
    if (request.url.endsWith('/api/v1/auth/refresh')) {
      // The refresh answers after the other requests have all failed.
      await new Promise((resolve) => setTimeout(resolve, 5))
      return refreshAnswer()
    }
    if (request.headers.get('Authorization') !== 'Bearer fresh') return json(401, { code: 'unauthenticated' })
    return json(200, { path: new URL(request.url).pathname, body })
  })
  vi.stubGlobal('fetch', fetchMock)
  return { seen, fetchMock }
}

describe('authorizedFetch', () => {
  let signedOut: ReturnType<typeof vi.fn>

  beforeEach(() => {
    localStorage.clear()
    signedOut = vi.fn()
    onSignedOut(signedOut as unknown as () => void)
  })
  afterEach(() => {
    vi.unstubAllGlobals()
    localStorage.clear()
  })

  it('sends the access token and the language', async () => {
    saveTokens({ access_token: 'fresh', refresh_token: 'r1' })
    localStorage.setItem('prm.locale', 'en')
    const { fetchMock } = fakeApi(() => json(500, {}))
    const answer = await authorizedFetch(new Request(`${BASE}/api/v1/me`))
    expect(answer.status).toBe(200)
    const sent = fetchMock.mock.calls[0][0] as Request
    expect(sent.headers.get('Authorization')).toBe('Bearer fresh')
    expect(sent.headers.get('Accept-Language')).toBe('en')
  })

  it('refreshes once for several requests failing together, and repeats each', async () => {
    saveTokens({ access_token: 'expired', refresh_token: 'r1' })
    const { seen } = fakeApi(() => json(200, { access_token: 'fresh', refresh_token: 'r2' }))

    const answers = await Promise.all([
      authorizedFetch(new Request(`${BASE}/api/v1/me`)),
      authorizedFetch(new Request(`${BASE}/api/v1/customers`)),
      authorizedFetch(new Request(`${BASE}/api/v1/orders`, { method: 'POST', body: '{"a":1}' })),
    ])

    expect(answers.map((a) => a.status)).toEqual([200, 200, 200])
    const bodies = await Promise.all(answers.map((a) => a.json()))
    expect(bodies.map((b) => b.path)).toEqual(['/api/v1/me', '/api/v1/customers', '/api/v1/orders'])
    // The repeated POST still carries its body.
    expect(bodies[2].body).toBe('{"a":1}')
    const refreshes = seen.filter((s) => s.url === '/api/v1/auth/refresh')
    expect(refreshes).toHaveLength(1)
    expect(JSON.parse(refreshes[0].body ?? '{}')).toEqual({ refresh_token: 'r1' })
    expect(loadTokens()).toEqual({ access_token: 'fresh', refresh_token: 'r2' })
    expect(seen.filter((s) => s.auth === 'Bearer fresh')).toHaveLength(3)
    expect(signedOut).not.toHaveBeenCalled()
  })

  it('a later 401 refreshes again (one refresh per wave, not one per session)', async () => {
    saveTokens({ access_token: 'expired', refresh_token: 'r1' })
    const { seen } = fakeApi(() => json(200, { access_token: 'fresh', refresh_token: 'r2' }))
    await authorizedFetch(new Request(`${BASE}/api/v1/me`))
    saveTokens({ access_token: 'expired-again', refresh_token: 'r2' })
    const answer = await authorizedFetch(new Request(`${BASE}/api/v1/me`))
    expect(answer.status).toBe(200)
    expect(seen.filter((s) => s.url === '/api/v1/auth/refresh')).toHaveLength(2)
  })

  it('an API away during the refresh (503) keeps the session: no sign-out, tokens kept', async () => {
    saveTokens({ access_token: 'expired', refresh_token: 'r1' })
    fakeApi(() => json(503, { code: 'service_unavailable' }))
    const answer = await authorizedFetch(new Request(`${BASE}/api/v1/me`))
    expect(answer.status).toBe(401)
    expect(signedOut).not.toHaveBeenCalled()
    expect(loadTokens()).toEqual({ access_token: 'expired', refresh_token: 'r1' })
  })

  it('tokens another tab renewed meanwhile are used as they are, never refreshed twice', async () => {
    saveTokens({ access_token: 'expired', refresh_token: 'r1' })
    const { seen, fetchMock } = fakeApi(() => json(401, { code: 'unauthenticated' }))
    const plain = fetchMock.getMockImplementation()!
    // The other tab renews the tokens while this request is on its way.
    fetchMock.mockImplementationOnce(async (input: RequestInfo | URL, init?: RequestInit) => {
      saveTokens({ access_token: 'fresh', refresh_token: 'r2' })
      return plain(input, init)
    })
    const answer = await authorizedFetch(new Request(`${BASE}/api/v1/me`))
    expect(answer.status).toBe(200)
    expect(seen.filter((s) => s.url === '/api/v1/auth/refresh')).toHaveLength(0)
    expect(signedOut).not.toHaveBeenCalled()
  })

  it('a failed refresh signs out once and answers the 401', async () => {
    saveTokens({ access_token: 'expired', refresh_token: 'revoked' })
    const { seen } = fakeApi(() => json(401, { code: 'unauthenticated' }))

    const answers = await Promise.all([
      authorizedFetch(new Request(`${BASE}/api/v1/me`)),
      authorizedFetch(new Request(`${BASE}/api/v1/customers`)),
    ])

    expect(answers.map((a) => a.status)).toEqual([401, 401])
    expect(seen.filter((s) => s.url === '/api/v1/auth/refresh')).toHaveLength(1)
    expect(loadTokens()).toBeNull()
    expect(signedOut).toHaveBeenCalled()
    // Nothing was repeated after the refresh failed.
    expect(seen.filter((s) => s.url !== '/api/v1/auth/refresh')).toHaveLength(2)
  })

  it('does not refresh without tokens, nor for the sign-in requests themselves', async () => {
    const { seen } = fakeApi(() => json(200, { access_token: 'fresh', refresh_token: 'r2' }))
    expect((await authorizedFetch(new Request(`${BASE}/api/v1/me`))).status).toBe(401)
    saveTokens({ access_token: 'expired', refresh_token: 'r1' })
    const login = new Request(`${BASE}/api/v1/auth/login`, { method: 'POST', body: '{}' })
    expect((await authorizedFetch(login)).status).toBe(401)
    expect(seen.filter((s) => s.url === '/api/v1/auth/refresh')).toHaveLength(0)
    expect(signedOut).not.toHaveBeenCalled()
  })
})

describe('unwrap', () => {
  it('returns the data of a success', () => {
    expect(unwrap({ data: { id: 1 }, response: new Response(null, { status: 200 }) })).toEqual({ id: 1 })
  })

  it('throws the problem as an ApiError with its code and field errors', () => {
    const problem = { code: 'invalid_input', detail: '手机号格式不对', errors: { phone: ['bad'] } }
    try {
      unwrap({ error: problem, response: new Response(null, { status: 422 }) })
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(ApiError)
      const e = error as ApiError
      expect([e.status, e.code, e.detail]).toEqual([422, 'invalid_input', '手机号格式不对'])
      expect(e.errors).toEqual({ phone: ['bad'] })
    }
  })
})
