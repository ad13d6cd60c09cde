export default {
  people: {
    users: 'Users', userList: 'User list', newUser: 'New user', editUser: 'Edit user', username: 'Username', displayName: 'Name',
    email: 'E-mail', phone: 'Mobile', password: 'Initial password', newPassword: 'Reset password', newPasswordHint: 'Leave empty to keep the password',
    partner: 'Partner', hqUser: 'HQ user', roles: 'Roles', active: 'Active', inactive: 'Inactive', lastLogin: 'Last sign-in',
    searchQ: 'Search username or name', filterPartner: 'Filter by partner', filterActive: 'Filter by state', activeYes: 'Active', activeNo: 'Inactive',
    partnerHint: 'No partner: an HQ user.', rolesHint: 'Only the roles that fit this user are listed.', saved: 'Saved', created: 'Created',
    roleList: 'Role list', rolesTitle: 'Roles', newRole: 'New role', editRole: 'Edit role', code: 'Code', name: 'Name',
    scope: 'Scope', scopeHq: 'HQ', scopePartner: 'Partner', partnerTypes: 'Partner types', partnerTypesHint: 'None chosen: every type.',
    permissions: 'Permissions', permissionCount: '{count} permissions', regions: 'Regions', regionsHint: 'Regional manager: sees and approves only these regions; none: the whole country.',
    addRegion: 'Add region', removeRegion: 'Remove {name}', includeSub: 'Include sub-partners', includeSubHint: "The role's users also see their sub-partners' data.",
    builtin: 'Built-in', hqPermissions: 'Permissions for HQ roles', partnerPermissions: 'Permissions for partner roles', nationwide: 'Whole country',
    groups: {
      partner: 'Partners and accounts', customer: 'Customers and filing', lead: 'Leads and pool', order: 'Orders', payment: 'Payments',
      commission: 'Commission', other: 'Other',
    },
  },
}
