// 通知渠道: e-mail and webhook channels, their events and delivery logs.
export default {
  channels: {
    title: '通知渠道', list: '通知渠道列表', add: '添加渠道', kind: '类型', target: '地址', format: '消息格式', scope: '范围',
    language: '消息语言', email: '邮箱地址', url: 'Webhook 地址', on: '已启用', off: '已停用', activate: '启用', deactivate: '停用',
    activated: '渠道已启用', deactivated: '渠道已停用', created: '渠道已添加', deleted: '渠道已删除',
    deleteConfirm: '删除渠道 {target} 及其投递记录？', failures: '连续失败 {count} 次', allEvents: '全部事件',
    eventsHint: '不选则接收全部事件。', robotSecret: '钉钉机器人加签密钥（选填）',
    robotSecretHint: '机器人开启了“加签”时填写以 SEC 开头的密钥；保存后不再显示。',
    secretTitle: 'Webhook 签名密钥', secret: '签名密钥', copy: '复制', copied: '已复制', copyByHand: '无法自动复制，请手动复制已选中的密钥',
    secretWarning: '此密钥只显示这一次，用于校验请求签名。请立即复制并妥善保存；关闭后无法再次查看。', secretSaved: '我已保存',
    deliveries: '投递记录', deliveriesOf: '投递记录：{target}', event: '事件', attempts: '尝试次数', lastError: '最近错误', at: '时间',
    kinds: { email: '邮件', webhook: 'Webhook' },
    formats: { json: 'JSON', wecom: '企业微信', dingtalk: '钉钉' },
    scopes: { user: '个人', partner: '本伙伴' },
    deliveryStatus: { pending: '待发送', sent: '已送达', failed: '失败', cancelled: '已取消' },
    groups: { filing: '报备', customer: '客户', extension: '延期', lead: '线索', order: '订单', money: '回款与提成' },
    events: {
      label: '事件',
      filing_submitted: '报备待审批', filing_step_waiting: '报备待下一环节审批', filing_approved: '报备已通过', filing_rejected: '报备已驳回',
      customer_claimed: '客户被领取', customer_released: '客户已释放', customer_transferred: '客户已转移', protection_ending: '保护期即将到期',
      idle_release_near: '即将因未跟进释放', partner_handover_done: '伙伴交接完成',
      extension_requested: '延期待审批', extension_step_waiting: '延期待下一环节审批', extension_approved: '延期已通过', extension_rejected: '延期已驳回',
      lead_assigned: '新线索分配', leads_assigned: '导入线索批量分配', lead_claim_deadline_near: '线索即将超时', lead_claim_deadlines_near: '多条线索即将超时',
      order_step_waiting: '订单待审批', order_approved: '订单已通过', order_rejected: '订单已驳回', order_commented: '订单新评论',
      payment_due_soon: '回款即将到期', payment_overdue: '回款已逾期', commission_entry_created: '新提成记录', statement_issued: '提成结算单已出具',
    },
  },
}
