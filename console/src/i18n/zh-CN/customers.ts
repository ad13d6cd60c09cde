// 客户：列表、报备、详情、跟进、延期、释放、转移。
export default {
  customers: {
    title: '客户', newTitle: '客户报备', detailTitle: '客户详情', listLabel: '客户列表', details: '客户信息',
    file: '报备客户', id: '编号', name: '客户名称', uscc: '统一社会信用代码', contactName: '联系人', phone: '联系电话',
    address: '地址', industry: '行业', source: '来源', owner: '所属伙伴', protectedUntil: '保护到期',
    searchHint: '客户名称或完整手机号', sources: { partner: '伙伴报备', hq: '总部线索' },
    check: {
      idle: '输入客户名称、信用代码或手机号后自动查重', checking: '正在查重…', clear: '可以报备',
      conflict: '该客户已被报备保护', failed: '暂时无法查重，提交时仍会校验',
    },
    form: {
      submit: '提交报备', required: '必填', nameTooShort: '客户名称至少 2 个字', usccHint: '18 位，可不填',
      territory: '您的区域：{regions}',
    },
    filing: '报备审批', filedAt: '报备于 {at}', decidedAt: '决定于 {at}',
    reveal: '查看联系方式', revealWhy: '请说明查看联系方式的原因（将记入审计日志）',
    release: '释放到公海', releaseWarning: '释放后该客户进入公海，其他伙伴可以领取，冷却期内您不能再次领取。请填写释放原因：',
    released: '已释放到公海', reasonNeeded: '请填写原因（至少 2 个字）',
    transfer: '转移客户', transferTo: '转移给伙伴', transferNeeds: '请选择伙伴并填写原因', transferred: '客户已转移',
    followUps: {
      title: '跟进记录', at: '时间', kind: '方式', body: '内容', nextAt: '下次跟进', nextAtHint: '可不填',
      add: '添加跟进', added: '已添加跟进记录', kinds: { visit: '拜访', call: '电话', message: '消息', other: '其他' },
    },
    extensions: {
      title: '延期申请', request: '申请延期', none: '暂无延期申请', days: '延期 {days} 天', daysLabel: '延期天数（1–365）',
      requested: '延期申请已提交，等待审批', moved: '保护期 {before} → {after}',
    },
  },
}
