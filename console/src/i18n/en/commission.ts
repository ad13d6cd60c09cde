export default {
  commission: {
    source: { partner: 'Self-sourced', hq: 'HQ-assigned' },
    basis: { approval: 'On approval', collection: 'On collection' },
    entries: {
      title: 'Commission', list: 'Commission entries', order: 'Order', contractNo: 'Contract no.', partner: 'Partner',
      source: 'Customer source', contractAmount: 'Contract amount', rate: 'Rate', amount: 'Commission', period: 'Period',
      kind: 'Kind', statement: 'Statement', unsettled: 'Unsettled', periodFilter: 'Filter by period',
      partnerFilter: 'Filter by partner', kindFilter: 'Filter by kind',
    },
    statements: {
      title: 'Statements', list: 'Commission statements', generate: 'Generate statement', partner: 'Partner', period: 'Period',
      status: 'Status', total: 'Total', entryCount: 'Entries', paymentRef: 'Payment reference', issuedAt: 'Issued',
      confirmedAt: 'Confirmed', paidAt: 'Paid', confirm: 'Confirm', pay: 'Pay',
      confirmAsk: 'Confirm statement {period} ({amount}) as correct?', payTitle: 'Pay statement',
      payPrompt: 'Payment reference (bank transaction no. etc.)', paymentRefRequired: 'Enter the payment reference',
      generated: 'Statement generated', confirmed: 'Confirmed', paid: 'Recorded as paid', choosePartner: 'Choose a partner',
      choosePeriod: 'Choose a period', statusFilter: 'Filter by status', periodFilter: 'Filter by period',
      partnerFilter: 'Filter by partner',
    },
    statement: { title: 'Statement', heading: 'Statement #{id}', entries: 'Statement entries' },
    rates: {
      title: 'Commission rates', list: 'Rate rules', inForce: 'Rates in force', scope: 'Applies to', partnerType: 'Partner type',
      partner: 'Partner', selfRate: 'Self-sourced rate', hqRate: 'HQ-assigned rate', effectiveFrom: 'Effective from',
      basis: 'Accrual', updatedAt: 'Updated', edit: 'Set a rate rule', byType: 'By partner type', byPartner: 'By partner',
      percentHint: 'In percent: 8 means 8%', badPercent: 'Enter a percent from 0 to 100 (up to four decimals)',
      saved: 'Rate rule saved', checkPartner: 'Partner', inForceOn: 'On date',
      inForceHint: 'Choose a partner to see the rates that apply to it', fromOverride: 'Partner rule',
      fromType: 'Partner type rule', rule: 'Rule #{id}', typeFilter: 'Filter by partner type', partnerFilter: 'Filter by partner',
    },
  },
}
