// 线索: the list, entering, importing, assigning, claiming and declining.
export default {
  leads: {
    title: '线索', list: '线索列表', detail: '线索详情', detailTitle: '线索：{name}', id: '编号', name: '客户名称',
    contactName: '联系人', phone: '电话', address: '地址', notes: '备注', partner: '合作伙伴', claimDeadline: '申领剩余时间',
    customer: '客户', openCustomer: '查看客户', history: '流转记录', search: '名称或完整电话',
    claim: '申领', claimed: '已申领，客户已进入保护期', decline: '拒绝', declined: '已拒绝该线索',
    declineTitle: '拒绝线索：{name}', declineReason: '请说明拒绝的原因（总部和下一位伙伴可见）', reasonRequired: '请填写原因',
    create: '录入线索', createdDone: '线索已录入', import: '导入线索', importFile: '选择线索文件',
    importDrop: '将 CSV 或 Excel（XLSX）文件拖到此处，或点击选择文件',
    importTip: '列：name、contact_name、phone、region_code、address、notes（或中文表头）；最多 100,000 行。同一文件不会重复导入。',
    importProgressLabel: '导入进度', uploading: '正在上传…', importProgress: '已处理 {done} / {total} 行，新建 {created} 条，已分配 {assigned} 条，未分配 {unassigned} 条，错误 {refused} 行',
    rowErrors: '错误行', rowNumber: '行号', problems: '问题', moreErrors: '仅显示前 {shown} 行错误，共 {total} 行',
    pastImports: '导入记录', importedAt: '导入时间', rows: '行数', created: '新建', assignedCount: '已分配', refused: '错误',
    jobStatus: { receiving: '接收中', queued: '排队中', running: '导入中', done: '已完成', failed: '失败' },
    assign: '指派', assignTitle: '指派线索：{name}', assignedDone: '线索已指派', pickPartner: '搜索伙伴名称或编码',
    actions: {
      assigned: '自动分配', hq_assigned: '总部指派', withdrawn: '收回', unassigned: '退回总部', claimed: '已申领',
      declined: '已拒绝', expired: '超时未申领', terminated: '伙伴终止合作',
    },
  },
}
