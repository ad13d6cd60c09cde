import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import { cleanQuery, usePagedList, type Page, type Query } from '@/components/paged'

describe('cleanQuery', () => {
  it('leaves out empty strings, empty lists and undefined', () => {
    expect(cleanQuery({ q: '', status: [], region_code: undefined, page: 1, mine: false, kind: ['a'] })).toEqual({
      page: 1,
      mine: false,
      kind: ['a'],
    })
  })

  it('keeps zero', () => {
    expect(cleanQuery({ page: 0, min: 0 })).toEqual({ page: 0, min: 0 })
  })
})

interface Row {
  id: number
}

/** A fetchPage whose answers the test releases one by one, in any order. */
function controlled() {
  const calls: { query: Query; resolve: (page: Page<Row>) => void; reject: (e: unknown) => void }[] = []
  const fetchPage = (query: Query): Promise<Page<Row>> =>
    new Promise((resolve, reject) => {
      calls.push({ query, resolve, reject })
    })
  return { calls, fetchPage }
}

const flush = async (): Promise<void> => {
  await nextTick()
  await Promise.resolve()
  await nextTick()
}

describe('usePagedList', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('asks for the first page with its filters, page size and sort', async () => {
    const { calls, fetchPage } = controlled()
    const list = usePagedList(fetchPage, { q: '', status: 'protected' }, { perPage: 10, sort: '-created_at' })
    expect(calls).toHaveLength(1)
    expect(calls[0].query).toEqual({ status: 'protected', page: 1, per_page: 10, sort: '-created_at' })
    calls[0].resolve({ items: [{ id: 1 }], total: 1 })
    await flush()
    expect(list.items).toEqual([{ id: 1 }])
    expect(list.total).toBe(1)
    expect(list.loading).toBe(false)
  })

  it('sends no sort when none is chosen', () => {
    const { calls, fetchPage } = controlled()
    usePagedList(fetchPage, {})
    expect(calls[0].query).toEqual({ page: 1, per_page: 20 })
  })

  it('goes back to page 1 when a filter changes, after a pause while typing', async () => {
    const { calls, fetchPage } = controlled()
    const list = usePagedList(fetchPage, { q: '' })
    calls[0].resolve({ items: [], total: 100 })
    list.page = 3
    await flush()
    expect(calls).toHaveLength(2)
    expect(calls[1].query.page).toBe(3)
    calls[1].resolve({ items: [], total: 100 })

    list.filters.q = '杭'
    await flush()
    list.filters.q = '杭州'
    await flush()
    vi.advanceTimersByTime(299)
    await flush()
    expect(calls).toHaveLength(2)
    vi.advanceTimersByTime(1)
    await flush()
    expect(list.page).toBe(1)
    // One request for the filter (the page change back to 1 may ask again, with the same query).
    const last = calls[calls.length - 1].query
    expect(last).toEqual({ q: '杭州', page: 1, per_page: 20 })
    expect(calls.slice(2).every((c) => c.query.q === '杭州' && c.query.page === 1)).toBe(true)
  })

  it('a sort or page-size change reloads', async () => {
    const { calls, fetchPage } = controlled()
    const list = usePagedList(fetchPage, {})
    list.sort = 'name'
    await flush()
    expect(calls[calls.length - 1].query).toEqual({ page: 1, per_page: 20, sort: 'name' })
    list.perPage = 50
    await flush()
    expect(calls[calls.length - 1].query).toEqual({ page: 1, per_page: 50, sort: 'name' })
  })

  it('a late answer does not overwrite a newer one', async () => {
    const { calls, fetchPage } = controlled()
    const list = usePagedList(fetchPage, {})
    list.page = 2
    await flush()
    expect(calls).toHaveLength(2)
    // The newer request (page 2) answers first, the older (page 1) after it.
    calls[1].resolve({ items: [{ id: 2 }], total: 40 })
    await flush()
    calls[0].resolve({ items: [{ id: 1 }], total: 99 })
    await flush()
    expect(list.items).toEqual([{ id: 2 }])
    expect(list.total).toBe(40)
    expect(list.loading).toBe(false)
  })

  it('a late failure neither shows nor clears the newer answer', async () => {
    const { calls, fetchPage } = controlled()
    const list = usePagedList(fetchPage, {})
    void list.load()
    calls[1].resolve({ items: [{ id: 7 }], total: 1 })
    await flush()
    calls[0].reject(new Error('late'))
    await flush()
    expect(list.error).toBeNull()
    expect(list.items).toEqual([{ id: 7 }])
  })

  it('keeps the error of the latest request and stops loading', async () => {
    const { calls, fetchPage } = controlled()
    const list = usePagedList(fetchPage, {})
    const problem = new Error('down')
    calls[0].reject(problem)
    await flush()
    expect(list.error).toBe(problem)
    expect(list.loading).toBe(false)
  })

  it('waits for load() when told not to start at once', () => {
    const { calls, fetchPage } = controlled()
    const list = usePagedList(fetchPage, {}, { immediate: false })
    expect(calls).toHaveLength(0)
    void list.load()
    expect(calls).toHaveLength(1)
  })
})
