// One paged list on the server: page, per_page, sort ("field" or "-field") and filters go
// into the query; a change of filters goes back to page 1 (after a short pause while typing).
import { reactive, watch } from 'vue'

export interface Page<T> {
  items: T[]
  total: number
}

export type Query = Record<string, string | number | boolean | string[] | undefined>

export interface PagedList<T, F extends Query = Query> {
  items: T[]
  total: number
  page: number
  perPage: number
  sort: string
  filters: F
  loading: boolean
  error: unknown
  load: () => Promise<void>
}

/** Empty strings and empty lists are left out of the query (the API's defaults). */
export function cleanQuery(query: Query): Query {
  const clean: Query = {}
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0)) continue
    clean[key] = value
  }
  return clean
}

export function usePagedList<T, F extends Query = Query>(
  fetchPage: (query: Query) => Promise<Page<T>>,
  filters: F = {} as F,
  options: { perPage?: number; sort?: string; immediate?: boolean } = {},
): PagedList<T, F> {
  let asked = 0
  const list = reactive({
    items: [] as T[],
    total: 0,
    page: 1,
    perPage: options.perPage ?? 20,
    sort: options.sort ?? '',
    filters,
    loading: false,
    error: null as unknown,
    async load(): Promise<void> {
      const mine = ++asked
      list.loading = true
      try {
        const answer = await fetchPage(
          cleanQuery({ ...(list.filters as Query), page: list.page, per_page: list.perPage, sort: list.sort || undefined }),
        )
        if (mine !== asked) return
        list.items = answer.items as never
        list.total = answer.total
        list.error = null
      } catch (error) {
        if (mine === asked) list.error = error
      } finally {
        if (mine === asked) list.loading = false
      }
    },
  }) as PagedList<T, F>
  let pause: ReturnType<typeof setTimeout> | undefined
  watch(
    () => JSON.stringify(list.filters),
    () => {
      clearTimeout(pause)
      pause = setTimeout(() => {
        list.page = 1
        void list.load()
      }, 300)
    },
  )
  watch(
    () => list.perPage,
    () => {
      if (list.page !== 1) list.page = 1
      else void list.load()
    },
  )
  watch(() => [list.page, list.sort], () => void list.load())
  if (options.immediate !== false) void list.load()
  return list
}
