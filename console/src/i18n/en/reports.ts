export default {
  reports: {
    title: 'Reports',
    tabs: { sales: 'Sales', summary: 'Order summary', commissions: 'Commission', receivables: 'Receivables ageing', collections: 'Collections' },
    dims: {
      province: 'Province', city: 'City', partner: 'Partner', product: 'Product', month: 'Month', quarter: 'Quarter',
      source: 'Customer source', status: 'Order status', period: 'Period',
    },
    metrics: {
      order_count: 'Orders', quantity: 'Quantity', amount: 'Amount', in_approval: 'In approval', approved_count: 'Approved orders',
      approved_amount: 'Approved amount', contract_amount: 'Contract amount', commission_amount: 'Commission', entry_count: 'Entries',
      not_due: 'Not due', '1_30': '1-30 days overdue', '31_60': '31-60 days overdue', '61_90': '61-90 days overdue',
      over_90: 'Over 90 days overdue', total: 'Receivable', received: 'Received', refunded: 'Refunded', net: 'Net collected',
      payment_count: 'Payments',
    },
    source: { partner: 'Self-sourced', hq: 'HQ-assigned' },
    groupBy: 'Group by', groupByHint: 'Several allowed, grouped in the order chosen', status: 'Order status', partner: 'Partner',
    asOf: 'Aged as of', fromPeriod: 'From period', toPeriod: 'To period', source_: 'Customer source', noCity: '(no city)',
    totals: 'Total', table: '{name} table', chart: '{name} chart', map: 'Sales amount by province', byDim: '{metric} by {dim}',
    chartEmpty: 'Nothing to chart', mapUnavailable: 'The map could not be loaded', unplaced: 'Regions not on the map: {names}',
    fileName: '{name}-{date}',
  },
}
