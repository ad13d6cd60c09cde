export default {
  audit: {
    title: '审计日志', list: '审计记录', at: '时间', action: '操作', actor: '操作人', actorId: '操作人 ID', actorPartner: '操作人所属伙伴',
    address: '来源地址', subjectType: '对象类型', subjectId: '对象 ID', detail: '详情', source: '服务', system: '系统',
    filterAction: '按操作筛选', filterSubjectType: '按对象类型筛选',
    actions: {
      sign_in: '登录', sign_in_failed: '登录失败', user_created: '创建用户', user_changed: '修改用户', user_deactivated: '停用用户',
      password_changed: '修改密码', roles_changed: '修改用户角色', role_created: '创建角色', role_changed: '修改角色',
      grades_changed: '修改伙伴等级', partner_terminated: '终止合作', customer_transferred: '转移客户', customer_released: '释放客户',
      pii_revealed: '查看联系方式', rate_changed: '修改提成比例', statement_paid: '支付结算单', report_exported: '导出报表',
      payment_recorded: '登记回款', payment_plan_set: '设置回款计划', credit_limit_set: '设置信用额度',
    },
    subjects: {
      customer: '客户', order: '订单', partner: '合作伙伴', partner_grade: '伙伴等级', rate_rule: '提成规则', report: '报表', role: '角色',
      statement: '结算单', user: '用户',
    },
  },
}
