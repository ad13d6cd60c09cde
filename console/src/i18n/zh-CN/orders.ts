// 订单: the list, drafting, the order page, the partner's credit.
export default {
  orders: {
    title: '订单', newTitle: '新建订单', detailTitle: '订单详情', detailHeading: '订单 {contract}', new: '新建订单',
    listLabel: '订单列表', search: '合同号或客户', customerFilter: '客户 #{id} 的订单', contractNo: '合同号', customer: '客户', total: '合计金额',
    totalQuantity: '总数量', paymentStatus: '回款状态', approvedAt: '审批通过时间', submittedAt: '提交时间',
    completedAt: '交付时间', cancelledAt: '取消时间', customerSource: '客户来源', notes: '备注', header: '订单信息',
    lines: '订单明细', saveDraft: '保存草稿', saved: '订单已保存', submit: '提交审批', submitted: '已提交审批',
    confirmSubmit: '提交后订单进入审批，审批期间不能修改。确定提交吗？', approved: '已通过', rejected: '已驳回',
    approveComment: '审批意见（可不填）', rejectComment: '请填写驳回原因', needComment: '请填写内容',
    cancel: '取消订单', cancelled: '订单已取消', cancelReason: '取消原因（已审批的订单必须填写）',
    complete: '确认交付', completed: '已确认交付', confirmComplete: '确认该订单已交付客户吗？',
    creditExceeded: '订单金额 {total} 超出可用信用额度，当前可用额度为 {available}。请联系总部调整额度，或待回款后再提交。',
    source: { partner: '伙伴自拓', hq: '总部分配' },
    credit: { title: '信用额度', limit: '信用额度', outstanding: '已占用', available: '可用额度' },
    line: {
      product: '第 {n} 行产品', sku: '产品编码', name: '产品名称', unit: '单位', quantity: '数量', unitPrice: '单价',
      listPrice: '目录价', discount: '优惠幅度', amount: '金额', add: '添加产品', remove: '删除第 {n} 行',
    },
    form: {
      customerPlaceholder: '输入客户名称搜索', noCustomers: '没有保护中的客户', productPlaceholder: '输入产品编码或名称搜索',
      chooseCustomer: '请选择客户', needContractNo: '请填写合同号', needLine: '至少需要一行产品', chooseProduct: '请选择产品',
      badQuantity: '数量须为 1 到 {max} 之间的整数', badPrice: '请输入金额，最多两位小数',
    },
    commission: {
      title: '提成', summary: '提成比例 {rate}，提成金额 {amount}', accrued: '已计提 {amount}',
      basis: { approval: '审批通过时一次计提', collection: '按回款比例计提' },
    },
    problems: {
      same_approver: '您提交过该订单或审批过它的其他步骤，不能再审批这一步', refund_first: '该订单已有回款，请先登记退款再取消',
      plan_total_mismatch: '各期金额之和必须等于订单金额', overrefund: '退款超过已回款金额', sku_taken: '该产品编码已存在',
      idempotency_key_reused: '内容已改变，请重新提交',
    },
    comments: { title: '讨论', none: '还没有留言', add: '留言', post: '发表', me: '我' },
  },
}
