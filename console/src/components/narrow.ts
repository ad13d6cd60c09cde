// True on a phone-sized screen (lists become cards, the menu a drawer).
import { onBeforeUnmount, onMounted, ref, type Ref } from 'vue'

export const NARROW_QUERY = '(max-width: 768px)'

export function useNarrow(): Ref<boolean> {
  const narrow = ref(typeof window !== 'undefined' && window.matchMedia?.(NARROW_QUERY).matches === true)
  let query: MediaQueryList | undefined
  const update = (event: MediaQueryListEvent): void => {
    narrow.value = event.matches
  }
  onMounted(() => {
    query = window.matchMedia?.(NARROW_QUERY)
    if (!query) return
    narrow.value = query.matches
    query.addEventListener('change', update)
  })
  onBeforeUnmount(() => query?.removeEventListener('change', update))
  return narrow
}
