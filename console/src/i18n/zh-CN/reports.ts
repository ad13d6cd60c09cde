export default {
  reports: {
    title: '报表',
    tabs: { sales: '销售报表', summary: '订单汇总', commissions: '提成报表', receivables: '应收账龄', collections: '回款报表' },
    dims: {
      province: '省份', city: '城市', partner: '合作伙伴', product: '产品', month: '月份', quarter: '季度', source: '客户来源',
      status: '订单状态', period: '期间',
    },
    metrics: {
      order_count: '订单数', quantity: '数量', amount: '金额', in_approval: '审批中', approved_count: '已通过订单数',
      approved_amount: '已通过金额', contract_amount: '合同金额', commission_amount: '提成金额', entry_count: '条目数',
      not_due: '未到期', '1_30': '逾期 1-30 天', '31_60': '逾期 31-60 天', '61_90': '逾期 61-90 天', over_90: '逾期 90 天以上',
      total: '应收合计', received: '回款', refunded: '退款', net: '净回款', payment_count: '笔数',
    },
    source: { partner: '自拓客户', hq: '总部分配' },
    groupBy: '分组维度', groupByHint: '可多选，按选择顺序分组', status: '订单状态', partner: '合作伙伴', asOf: '账龄截止日',
    fromPeriod: '开始期间', toPeriod: '结束期间', source_: '客户来源', noCity: '（未分城市）',
    totals: '合计', table: '{name}数据表', chart: '{name}图表', map: '各省份销售金额地图', byDim: '{metric}（按{dim}）',
    chartEmpty: '暂无可绘制的数据', mapUnavailable: '地图数据加载失败', unplaced: '未在地图上显示的地区：{names}',
    fileName: '{name}-{date}',
  },
}
