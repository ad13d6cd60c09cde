export default {
  people: {
    users: '用户', userList: '用户列表', newUser: '新建用户', editUser: '编辑用户', username: '用户名', displayName: '姓名',
    email: '邮箱', phone: '手机号', password: '初始密码', newPassword: '重置密码', newPasswordHint: '留空则不修改密码',
    partner: '所属伙伴', hqUser: '总部用户', roles: '角色', active: '启用', inactive: '已停用', lastLogin: '最近登录',
    searchQ: '搜索用户名或姓名', filterPartner: '按伙伴筛选', filterActive: '按状态筛选', activeYes: '启用', activeNo: '已停用',
    partnerHint: '不选择伙伴即为总部用户。', rolesHint: '只列出适用于该用户的角色。', saved: '已保存', created: '已创建',
    roleList: '角色列表', rolesTitle: '角色', newRole: '新建角色', editRole: '编辑角色', code: '编码', name: '名称',
    scope: '适用范围', scopeHq: '总部', scopePartner: '合作伙伴', partnerTypes: '适用伙伴类型', partnerTypesHint: '不选表示所有类型。',
    permissions: '权限', permissionCount: '{count} 项权限', regions: '负责区域', regionsHint: '区域经理：只看到并审批这些区域的数据；不设则全国。',
    addRegion: '添加区域', removeRegion: '移除 {name}', includeSub: '包含下级伙伴', includeSubHint: '该角色的用户也能看到下级伙伴的数据。',
    builtin: '内置', hqPermissions: '总部角色可用权限', partnerPermissions: '伙伴角色可用权限', nationwide: '全国',
    groups: {
      partner: '伙伴与账号', customer: '客户与报备', lead: '线索与公海', order: '订单', payment: '回款', commission: '提成',
      other: '其他',
    },
  },
}
