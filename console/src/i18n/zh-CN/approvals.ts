// 审批中心: filings, protection extensions and orders waiting for a decision.
export default {
  approvals: {
    title: '审批中心', filings: '报备', extensions: '延期', orders: '订单', number: '编号', customer: '客户',
    submittedAt: '提交时间', currentStep: '当前环节', days: '延期天数', daysValue: '{days} 天', contractNo: '合同编号',
    total: '订单金额', waitingOthers: '等待其他审批人', nothingToDecide: '您没有需要处理的审批',
    approveTitle: '通过：{what}', rejectTitle: '驳回：{what}', approveHint: '可填写审批意见（选填）',
    rejectHint: '请填写驳回意见（必填，提交人可见）', commentRequired: '驳回需要填写意见',
    approved: '已通过', rejected: '已驳回',
    problems: {
      same_approver: '您已提交或审批过此单的其他环节，不能再审批此环节',
      already_decided: '该审批已处理',
    },
  },
}
