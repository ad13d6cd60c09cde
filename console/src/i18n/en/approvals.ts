// Approvals: filings, protection extensions and orders waiting for a decision.
export default {
  approvals: {
    title: 'Approvals', filings: 'Filings', extensions: 'Extensions', orders: 'Orders', number: 'No.', customer: 'Customer',
    submittedAt: 'Submitted', currentStep: 'Current step', days: 'Extension', daysValue: '{days} days', contractNo: 'Contract no.',
    total: 'Order total', waitingOthers: 'Waiting for another approver', nothingToDecide: 'Nothing waits for your decision',
    approveTitle: 'Approve: {what}', rejectTitle: 'Reject: {what}', approveHint: 'A comment (optional)',
    rejectHint: 'Why is it rejected? (required; the submitter sees it)', commentRequired: 'A rejection needs a comment',
    approved: 'Approved', rejected: 'Rejected',
    problems: {
      same_approver: 'You submitted this or decided another of its steps, so you cannot decide this step',
      already_decided: 'This has already been decided',
    },
  },
}
