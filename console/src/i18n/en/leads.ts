// Leads: the list, entering, importing, assigning, claiming and declining.
export default {
  leads: {
    title: 'Leads', list: 'Leads', detail: 'Lead', detailTitle: 'Lead: {name}', id: 'No.', name: 'Customer name',
    contactName: 'Contact', phone: 'Phone', address: 'Address', notes: 'Notes', partner: 'Partner', claimDeadline: 'Time left to claim',
    customer: 'Customer', openCustomer: 'Open customer', history: 'History', search: 'Name or full phone number',
    claim: 'Claim', claimed: 'Claimed: the customer is now protected for you', decline: 'Decline', declined: 'Lead declined',
    declineTitle: 'Decline lead: {name}', declineReason: 'Why do you decline it? (HQ and the next partner see it)', reasonRequired: 'Please give a reason',
    create: 'New lead', createdDone: 'Lead entered', import: 'Import leads', importFile: 'Choose a file of leads',
    importDrop: 'Drop a CSV or Excel (XLSX) file here, or click to choose one',
    importTip: 'Columns: name, contact_name, phone, region_code, address, notes (or the Chinese headers); up to 100,000 rows. The same file is never imported twice.',
    importProgressLabel: 'Import progress', uploading: 'Uploading…', importProgress: '{done} / {total} rows done, {created} created, {assigned} assigned, {unassigned} unassigned, {refused} rows refused',
    rowErrors: 'Refused rows', rowNumber: 'Row', problems: 'Problems', moreErrors: 'The first {shown} of {total} refused rows',
    pastImports: 'Past imports', importedAt: 'Imported at', rows: 'Rows', created: 'Created', assignedCount: 'Assigned', refused: 'Refused',
    jobStatus: { receiving: 'Receiving', queued: 'Queued', running: 'Running', done: 'Done', failed: 'Failed' },
    assign: 'Assign', assignTitle: 'Assign lead: {name}', assignedDone: 'Lead assigned', pickPartner: 'Search a partner by name or code',
    actions: {
      assigned: 'Assigned by region', hq_assigned: 'Assigned by HQ', withdrawn: 'Withdrawn', unassigned: 'Back to HQ', claimed: 'Claimed',
      declined: 'Declined', expired: 'Not claimed in time', terminated: 'Partner terminated',
    },
  },
}
