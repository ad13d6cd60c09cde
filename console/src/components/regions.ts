// Region names for codes, fetched once per parent and kept for the session.
import { reactive } from 'vue'
import { api, unwrap } from '@/api/client'

const names = reactive<Record<string, string>>({})
const asked = new Set<string>()

async function loadLevel(parent?: string): Promise<void> {
  const key = parent ?? ''
  if (asked.has(key)) return
  asked.add(key)
  try {
    const regions = unwrap(await api.GET('/api/v1/regions', { params: { query: parent ? { parent } : {} } }))
    for (const region of regions) if (region.code) names[region.code] = region.name ?? region.code
  } catch {
    asked.delete(key)
  }
}

/** "浙江省 杭州市 西湖区" for 330106 (the code itself until the names have arrived). */
export function regionName(code: string | null | undefined): string {
  if (!code) return '—'
  const province = `${code.slice(0, 2)}0000`
  const city = `${code.slice(0, 4)}00`
  void loadLevel()
  if (code !== province) void loadLevel(province)
  if (code !== city && code !== province) void loadLevel(city)
  const parts = [province, city, code].filter((c, i, all) => all.indexOf(c) === i)
  return parts.map((c) => names[c] ?? c).join(' ')
}

/** The codes from the province down to ``code`` (330106 → 330000, 330100, 330106). */
export function pathOf(code: string): string[] {
  const chain = [`${code.slice(0, 2)}0000`, `${code.slice(0, 4)}00`, code]
  return chain.filter((c, i) => chain.indexOf(c) === i)
}
