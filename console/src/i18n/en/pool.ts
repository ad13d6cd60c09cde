// The public pool.
export default {
  pool: {
    title: 'Public pool', listLabel: 'Customers in the pool', id: 'ID', name: 'Customer name', industry: 'Industry',
    contactName: 'Contact', phone: 'Phone', releasedAt: 'Released', releasedBy: 'Last held by', searchHint: 'Customer name',
    intro: 'Released customers in your territory; claiming one protects it for you.', introHq: 'Every customer released to the pool.',
    claim: 'Claim', claimed: '“{name}” is now protected for you', notClaimed: 'Not claimed',
    refusals: {
      claim_limit_reached: '. Release or close some of your protected customers first.', cooldown: '. Try again after the cooldown.',
      already_claimed: '. Another partner has just claimed it.',
    },
  },
}
