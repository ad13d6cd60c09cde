// What each report tab asks and shows: its path, the dimensions it may be grouped by, its
// date filter and its figures (money or counts), and what its chart draws.

export type ReportKey = 'sales' | 'summary' | 'commissions' | 'receivables' | 'collections'

export interface Metric {
  key: string
  money: boolean
  /** The catalogue key of its heading when not reports.metrics.<key>. */
  label?: string
}

export interface ReportDef {
  key: ReportKey
  path: string
  /** The dimensions one may choose; `fixed` when the API groups the report itself. */
  dims: string[]
  fixed?: boolean
  defaultGroupBy: string[]
  range: 'date' | 'period' | 'asOf'
  statusFilter?: boolean
  sourceFilter?: boolean
  metrics: Metric[]
  chart: string[]
  /** The dimension the chart is drawn over (default: the first one grouped by). */
  chartDim?: string
  stacked?: boolean
  map?: boolean
}

const count = (key: string): Metric => ({ key, money: false })
const amount = (key: string): Metric => ({ key, money: true })

export const ORDER_STATUSES = ['draft', 'submitted', 'approved', 'rejected', 'completed', 'cancelled']
export const TIME_DIMS = ['month', 'quarter', 'period']

export const REPORTS: ReportDef[] = [
  {
    key: 'sales',
    path: '/api/v1/reports/sales',
    dims: ['province', 'city', 'partner', 'product', 'month', 'quarter', 'source', 'status'],
    defaultGroupBy: ['province'],
    range: 'date',
    statusFilter: true,
    metrics: [count('order_count'), count('quantity'), amount('amount')],
    chart: ['amount'],
    map: true,
  },
  {
    key: 'summary',
    path: '/api/v1/reports/orders-summary',
    dims: ['province', 'city', 'partner'],
    fixed: true,
    defaultGroupBy: ['province', 'city', 'partner'],
    range: 'date',
    metrics: [count('order_count'), count('in_approval'), count('approved_count'), amount('amount'), amount('approved_amount')],
    chart: ['amount', 'approved_amount'],
    chartDim: 'partner',
  },
  {
    key: 'commissions',
    path: '/api/v1/reports/commissions',
    dims: ['partner', 'period', 'source'],
    defaultGroupBy: ['partner', 'period'],
    range: 'period',
    sourceFilter: true,
    metrics: [amount('contract_amount'), amount('commission_amount'), count('entry_count')],
    chart: ['commission_amount'],
  },
  {
    key: 'receivables',
    path: '/api/v1/reports/receivables',
    dims: ['partner', 'province', 'city'],
    defaultGroupBy: ['partner'],
    range: 'asOf',
    metrics: [amount('not_due'), amount('1_30'), amount('31_60'), amount('61_90'), amount('over_90'), amount('total')],
    chart: ['not_due', '1_30', '31_60', '61_90', 'over_90'],
    stacked: true,
  },
  {
    key: 'collections',
    path: '/api/v1/reports/collections',
    dims: ['partner', 'province', 'city', 'month', 'quarter'],
    defaultGroupBy: ['month'],
    range: 'date',
    metrics: [amount('received'), amount('refunded'), { key: 'amount', money: true, label: 'reports.metrics.net' }, count('payment_count')],
    chart: ['received', 'refunded', 'amount'],
  },
]
