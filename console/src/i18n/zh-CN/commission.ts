export default {
  commission: {
    source: { partner: '自拓客户', hq: '总部分配' },
    basis: { approval: '按审批', collection: '按回款' },
    entries: {
      title: '提成', list: '提成明细', order: '订单', contractNo: '合同编号', partner: '合作伙伴', source: '客户来源',
      contractAmount: '合同金额', rate: '提成比例', amount: '提成金额', period: '期间', kind: '类型', statement: '结算单',
      unsettled: '未结算', periodFilter: '按期间筛选', partnerFilter: '按合作伙伴筛选', kindFilter: '按类型筛选',
    },
    statements: {
      title: '结算单', list: '结算单列表', generate: '生成结算单', partner: '合作伙伴', period: '期间', status: '状态',
      total: '结算金额', entryCount: '条目数', paymentRef: '付款凭证号', issuedAt: '出具时间', confirmedAt: '确认时间',
      paidAt: '支付时间', confirm: '确认', pay: '支付', confirmAsk: '确认结算单 {period}（{amount}）无误？',
      payTitle: '支付结算单', payPrompt: '付款凭证号（银行流水号等）', paymentRefRequired: '请填写付款凭证号',
      generated: '已生成结算单', confirmed: '已确认', paid: '已记为支付', choosePartner: '请选择合作伙伴',
      choosePeriod: '请选择期间', statusFilter: '按状态筛选', periodFilter: '按期间筛选', partnerFilter: '按合作伙伴筛选',
    },
    statement: { title: '结算单详情', heading: '结算单 #{id}', entries: '结算单明细' },
    rates: {
      title: '提成比例', list: '提成比例规则', inForce: '现行比例', scope: '适用范围', partnerType: '伙伴类型',
      partner: '合作伙伴', selfRate: '自拓客户比例', hqRate: '总部分配比例', effectiveFrom: '生效日期', basis: '计提方式',
      updatedAt: '更新时间', edit: '设置比例规则', byType: '按伙伴类型', byPartner: '按合作伙伴', percentHint: '填百分数，如 8 表示 8%',
      badPercent: '请输入 0 到 100 之间的百分数（最多四位小数）', saved: '比例规则已保存', checkPartner: '查询伙伴',
      inForceOn: '查询日期', inForceHint: '选择合作伙伴查看其当前适用的比例', fromOverride: '伙伴专属规则', fromType: '伙伴类型规则',
      rule: '规则 #{id}', typeFilter: '按伙伴类型筛选', partnerFilter: '按合作伙伴筛选',
    },
  },
}
