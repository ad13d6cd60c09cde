// One dashboard card's data, loaded on its own: a card the user may not read (403) hides
// itself, any other problem stays inside the card; the rest of the page goes on.
import { reactive } from 'vue'
import { ApiError } from '@/api/client'

export interface Card<T> {
  shown: boolean
  loading: boolean
  error: unknown
  data: T | null
  load: () => Promise<void>
}

export function useCard<T>(shown: boolean, fetch: () => Promise<T>): Card<T> {
  const card = reactive({
    shown,
    loading: false,
    error: null as unknown,
    data: null as T | null,
    async load(): Promise<void> {
      if (!card.shown) return
      card.loading = true
      try {
        card.data = (await fetch()) as never
        card.error = null
      } catch (error) {
        if (error instanceof ApiError && error.status === 403) card.shown = false
        else card.error = error
      } finally {
        card.loading = false
      }
    },
  }) as Card<T>
  void card.load()
  return card
}
