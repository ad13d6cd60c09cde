import { afterEach, describe, expect, it } from 'vitest'
import { allowed, pages } from '@/router'
import { session, type Me } from '@/session'

function signedInAs(partnerId: number | null, permissions: string[]): void {
  session.me = {
    id: 1,
    username: 'u',
    display_name: 'U',
    partner_id: partnerId,
    partner_ids: partnerId === null ? [] : [partnerId],
    regions: [],
    roles: [],
    permissions,
  } as unknown as Me
}

describe('allowed', () => {
  afterEach(() => {
    session.me = null
  })

  it('lets anyone open a public page, and nobody else a page while signed out', () => {
    expect(allowed({ public: true })).toBe(true)
    expect(allowed(undefined)).toBe(true)
    expect(allowed({ title: 'dashboard.title' })).toBe(false)
  })

  it('needs any one of the permissions named', () => {
    signedInAs(null, ['customer.read'])
    expect(allowed({ perm: ['customer.read', 'customer.create'] })).toBe(true)
    expect(allowed({ perm: ['order.approve.sales'] })).toBe(false)
    expect(allowed({ perm: [] })).toBe(true)
  })

  it('keeps HQ pages from partner users and partner pages from HQ', () => {
    signedInAs(7, ['customer.read', 'partner.manage'])
    expect(allowed({ hq: true })).toBe(false)
    expect(allowed({ hq: true, perm: ['partner.manage'] })).toBe(false)
    expect(allowed({ partner: true })).toBe(true)

    signedInAs(null, ['customer.read'])
    expect(allowed({ hq: true })).toBe(true)
    expect(allowed({ partner: true })).toBe(false)
  })

  it('every page of the menu names a title and a known group', () => {
    const groups = ['work', 'channel', 'sales', 'money', 'reports', 'settings']
    for (const page of pages.filter((p) => p.meta?.menu)) {
      expect(page.meta?.title, page.path).toBeTruthy()
      expect(groups, page.path).toContain(page.meta?.menu?.group)
    }
  })

  it('no two pages share a path', () => {
    const paths = pages.map((p) => p.path)
    expect(new Set(paths).size).toBe(paths.length)
  })
})
