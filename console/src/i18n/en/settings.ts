export default {
  settings: {
    grades: 'Partner grades', gradeTable: 'Partner grades', code: 'Code', name: 'Name', maxProtected: 'Max protected customers', unlimited: 'No limit',
    protectionDays: 'Protection days', protectionDaysHint: "Empty: the partner type's", leadWeight: 'Lead weight', addGrade: 'Add grade',
    removeGrade: 'Remove grade {name}', saved: 'Saved', readOnly: 'Only HQ users who manage partners can change this.',
    types: 'Partner types', typeTable: 'Partner types', claimHours: 'Hours to claim a lead', idleReleaseDays: 'Released after days without follow-up',
    reclaimCooldownDays: 'Days before a released customer can be claimed again', never: 'Never', saveType: 'Save {name}',
    flows: 'Approval flows', kinds: { filing: 'Customer filing', order: 'Orders', extension: 'Protection extension' },
    steps: 'Steps', step: 'Step {n}', stepName: 'Step name', permission: 'Approver permission', mode: 'Mode', modeAny: 'Any one approves',
    modeAll: 'All named approvers approve', approvers: 'Approvers', approversHint: 'Type or choose user ids', condition: 'Condition',
    conditionNone: 'No condition (always)', conditionHint: 'The step applies when any condition holds', addCondition: 'Add condition',
    removeCondition: 'Remove condition', field: 'Field', op: 'Comparison', value: 'Value', fields: { total_amount: 'Order total', max_discount: 'Largest discount' },
    addStep: 'Add step', removeStep: 'Remove step', moveUp: 'Move up', moveDown: 'Move down', saveFlow: 'Save flow',
    noConditions: 'This flow takes no conditions.', updated: 'Last changed: {at}', flowHint: 'Changes apply to what is submitted afterwards; running approvals keep their steps.',
  },
}
