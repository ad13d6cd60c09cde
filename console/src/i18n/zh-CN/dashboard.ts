// 工作台。
export default {
  dashboard: {
    title: '工作台', hello: '您好，{name}', all: '查看全部', nothing: '暂无需要处理的事项',
    protected: '保护中的客户', expiring: '{days} 天内保护到期', noneExpiring: '近期没有到期的客户',
    until: '{date} 到期（剩 {days} 天）', leadsToClaim: '待申领线索', noLeads: '暂无待申领线索',
    claimWithin: '剩余 {left}', claim: '申领', decline: '拒绝', declineWhy: '拒绝线索「{name}」的原因：',
    reasonNeeded: '请填写原因', leadClaimed: '已申领「{name}」', leadDeclined: '已拒绝该线索',
    myOrdersInApproval: '审批中的订单', commissionThisMonth: '本月提成', commissionNote: '{period}，共 {count} 条',
    pendingFilings: '待审批报备', pendingExtensions: '待审批延期', ordersInApproval: '审批中的订单',
    unassignedLeads: '未分配线索', salesThisMonth: '本月销售额', salesNote: '共 {count} 笔订单',
  },
}
