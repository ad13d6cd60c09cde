// ECharts with only what the report charts use, so that the charts chunk stays small; the
// map of China is fetched the first time a map is drawn.
import { BarChart, LineChart, MapChart } from 'echarts/charts'
import { AriaComponent, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components'
import * as echarts from 'echarts/core'
import { CanvasRenderer } from 'echarts/renderers'

echarts.use([BarChart, LineChart, MapChart, AriaComponent, GridComponent, LegendComponent, TooltipComponent, VisualMapComponent, CanvasRenderer])

export { echarts }

interface ProvinceFeature {
  id?: string
  properties: { name: string; adcode?: string }
}

let china: Promise<Map<string, string>> | null = null

/** Registers the map 'china' (once) and gives the map's name of each province by its code. */
export function loadChina(): Promise<Map<string, string>> {
  china ??= import('@/assets/geo/china.json')
    .then((module) => {
      const geo = module.default as unknown as { features: ProvinceFeature[] }
      echarts.registerMap('china', geo as unknown as Parameters<typeof echarts.registerMap>[1])
      return new Map(geo.features.map((f) => [f.properties.adcode ?? f.id ?? '', f.properties.name]))
    })
    .catch((error: unknown) => {
      china = null
      throw error
    })
  return china
}
