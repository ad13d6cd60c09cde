export default {
  audit: {
    title: 'Audit log', list: 'Audit records', at: 'Time', action: 'Action', actor: 'Actor', actorId: 'Actor id', actorPartner: "Actor's partner",
    address: 'Address', subjectType: 'Object type', subjectId: 'Object id', detail: 'Details', source: 'Service', system: 'System',
    filterAction: 'Filter by action', filterSubjectType: 'Filter by object type',
    actions: {
      sign_in: 'Sign-in', sign_in_failed: 'Failed sign-in', user_created: 'User created', user_changed: 'User changed',
      user_deactivated: 'User deactivated', password_changed: 'Password changed', roles_changed: 'User roles changed',
      role_created: 'Role created', role_changed: 'Role changed', grades_changed: 'Grades changed', partner_terminated: 'Partner terminated',
      customer_transferred: 'Customer transferred', customer_released: 'Customer released', pii_revealed: 'Contact data revealed',
      rate_changed: 'Commission rate changed', statement_paid: 'Statement paid', report_exported: 'Report exported',
      payment_recorded: 'Payment recorded', payment_plan_set: 'Payment plan set', credit_limit_set: 'Credit limit set',
    },
    subjects: {
      customer: 'Customer', order: 'Order', partner: 'Partner', partner_grade: 'Partner grade', rate_rule: 'Rate rule', report: 'Report', role: 'Role',
      statement: 'Statement', user: 'User',
    },
  },
}
