export default {
  settings: {
    grades: '伙伴等级', gradeTable: '伙伴等级表', code: '编码', name: '名称', maxProtected: '保护客户上限', unlimited: '不限',
    protectionDays: '保护天数', protectionDaysHint: '留空则按伙伴类型', leadWeight: '线索分配权重', addGrade: '添加等级',
    removeGrade: '删除等级 {name}', saved: '已保存', readOnly: '只有拥有「管理合作伙伴」权限的总部用户可以修改。',
    types: '伙伴类型', typeTable: '伙伴类型表', claimHours: '线索申领时限（小时）', idleReleaseDays: '无跟进自动释放（天）',
    reclaimCooldownDays: '释放后再领取冷却（天）', never: '不释放', saveType: '保存 {name}',
    flows: '审批流程', kinds: { filing: '客户报备', order: '订单', extension: '保护期延期' },
    steps: '审批步骤', step: '第 {n} 步', stepName: '步骤名称', permission: '审批权限', mode: '方式', modeAny: '或签（一人通过即可）',
    modeAll: '会签（指定的人都要通过）', approvers: '会签人', approversHint: '输入或选择用户 ID', condition: '条件',
    conditionNone: '无条件（总是经过此步）', conditionHint: '满足任一条件时才经过此步', addCondition: '添加条件',
    removeCondition: '删除条件', field: '字段', op: '比较', value: '数值', fields: { total_amount: '订单总额', max_discount: '最大折扣率' },
    addStep: '添加步骤', removeStep: '删除此步', moveUp: '上移', moveDown: '下移', saveFlow: '保存流程',
    noConditions: '此流程不支持条件。', updated: '最后修改：{at}', flowHint: '修改只影响之后提交的单据，审批中的保持原流程。',
  },
}
