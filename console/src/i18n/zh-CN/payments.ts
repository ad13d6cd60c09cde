// 回款: the list of receipts and refunds, and the money on an order.
export default {
  payments: {
    title: '回款记录', listLabel: '回款记录列表', onOrder: '回款', order: '订单', orderNo: '订单 #{id}', kind: '类型',
    paid: '已回款', outstanding: '未回款', receivedOn: '到账日期', methodLabel: '方式', reference: '凭证号', recordedAt: '登记时间', recordedBy: '登记人',
    records: '回款与退款', none: '还没有回款', recordReceipt: '登记回款', recordRefund: '登记退款',
    receiptRecorded: '回款已登记', refundRecorded: '退款已登记', badAmount: '请输入大于 0 的金额，最多两位小数', needDate: '请选择日期',
    dueHint: '该订单尚未回款 {amount}', refundHint: '该订单已回款 {amount}，退款不能超过此数',
    overpayment: '回款超过未回款金额：该订单最多还能登记 {amount}', overrefund: '退款超过已回款金额：最多可退 {amount}',
    method: { bank_transfer: '银行转账', cash: '现金', check: '支票', other: '其他' },
    plan: {
      title: '回款计划', default: '默认：审批后 30 天全额', dueDate: '到期日', dueDateOf: '第 {n} 期到期日', installment: '第 {n} 期',
      edit: '调整回款计划', add: '添加一期', remove: '删除第 {n} 期', saved: '回款计划已保存',
      planned: '计划合计 {amount} / 订单金额 {total}', balanced: '与订单金额一致', short: '还差 {amount}', over: '超出 {amount}',
      badAmounts: '有金额格式不对',
    },
  },
}
