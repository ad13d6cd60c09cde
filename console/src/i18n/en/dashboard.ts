// The dashboard.
export default {
  dashboard: {
    title: 'Dashboard', hello: 'Hello, {name}', all: 'See all', nothing: 'Nothing waits for you',
    protected: 'Protected customers', expiring: 'Protection ending within {days} days', noneExpiring: 'No protection ends soon',
    until: 'ends {date} ({days} days left)', leadsToClaim: 'Leads to claim', noLeads: 'No leads to claim',
    claimWithin: '{left} left', claim: 'Claim', decline: 'Decline', declineWhy: 'Why decline the lead “{name}”?',
    reasonNeeded: 'Give a reason', leadClaimed: '“{name}” claimed', leadDeclined: 'Lead declined',
    myOrdersInApproval: 'Orders in approval', commissionThisMonth: 'Commission this month', commissionNote: '{period}, {count} entries',
    pendingFilings: 'Filings to approve', pendingExtensions: 'Extensions to approve', ordersInApproval: 'Orders in approval',
    unassignedLeads: 'Unassigned leads', salesThisMonth: 'Sales this month', salesNote: '{count} orders',
  },
}
