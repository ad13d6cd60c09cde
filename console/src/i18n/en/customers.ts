// Customers: list, filing, details, follow-ups, extensions, release, transfer.
export default {
  customers: {
    title: 'Customers', newTitle: 'File a customer', detailTitle: 'Customer', listLabel: 'Customer list', details: 'Customer details',
    file: 'File a customer', id: 'ID', name: 'Customer name', uscc: 'Unified social credit code', contactName: 'Contact',
    phone: 'Phone', address: 'Address', industry: 'Industry', source: 'Source', owner: 'Partner', protectedUntil: 'Protected until',
    searchHint: 'Name or full mobile number', sources: { partner: 'Filed by partner', hq: 'HQ lead' },
    check: {
      idle: 'Type the name, credit code or phone to check for duplicates', checking: 'Checking…', clear: 'Can be filed',
      conflict: 'This customer is already filed and protected', failed: 'Cannot check right now; filing checks again',
    },
    form: {
      submit: 'File', required: 'Required', nameTooShort: 'At least 2 characters', usccHint: '18 characters, optional',
      territory: 'Your territory: {regions}',
    },
    filing: 'Filing approval', filedAt: 'Filed {at}', decidedAt: 'decided {at}',
    reveal: 'Show contact data', revealWhy: 'Why do you need the contact data? (kept in the audit log)',
    release: 'Release to pool', releaseWarning:
      'Released customers go to the public pool where other partners may claim them; you cannot claim it back during the cooldown. Reason:',
    released: 'Released to the pool', reasonNeeded: 'Give a reason (at least 2 characters)',
    transfer: 'Transfer', transferTo: 'To partner', transferNeeds: 'Choose a partner and give a reason', transferred: 'Customer transferred',
    followUps: {
      title: 'Follow-ups', at: 'When', kind: 'Kind', body: 'Notes', nextAt: 'Next contact', nextAtHint: 'Optional',
      add: 'Add follow-up', added: 'Follow-up added', kinds: { visit: 'Visit', call: 'Call', message: 'Message', other: 'Other' },
    },
    extensions: {
      title: 'Extension requests', request: 'Request extension', none: 'No extension requests', days: '{days} more days',
      daysLabel: 'Days (1–365)', requested: 'Extension requested; waiting for approval', moved: 'Protection {before} → {after}',
    },
  },
}
