// Notification channels: e-mail and webhook channels, their events and delivery logs.
export default {
  channels: {
    title: 'Notification channels', list: 'Notification channels', add: 'Add channel', kind: 'Type', target: 'Address', format: 'Format', scope: 'Scope',
    language: 'Message language', email: 'E-mail address', url: 'Webhook URL', on: 'On', off: 'Off', activate: 'Switch on', deactivate: 'Switch off',
    activated: 'Channel switched on', deactivated: 'Channel switched off', created: 'Channel added', deleted: 'Channel deleted',
    deleteConfirm: 'Delete the channel {target} and its delivery log?', failures: '{count} failures in a row', allEvents: 'All events',
    eventsHint: 'None chosen: every event.', robotSecret: 'DingTalk robot signing secret (optional)',
    robotSecretHint: 'For a robot with 加签 on: the secret starting with SEC. It is never shown again.',
    secretTitle: 'Webhook signing secret', secret: 'Signing secret', copy: 'Copy', copied: 'Copied', copyByHand: 'Could not copy: copy the selected secret by hand',
    secretWarning: 'This secret is shown this once only; it verifies the signature of each request. Copy it now and keep it safe: it cannot be shown again.', secretSaved: 'I have saved it',
    deliveries: 'Delivery log', deliveriesOf: 'Delivery log: {target}', event: 'Event', attempts: 'Attempts', lastError: 'Last error', at: 'When',
    kinds: { email: 'E-mail', webhook: 'Webhook' },
    formats: { json: 'JSON', wecom: 'WeCom', dingtalk: 'DingTalk' },
    scopes: { user: 'Mine', partner: 'My partner' },
    deliveryStatus: { pending: 'Pending', sent: 'Sent', failed: 'Failed', cancelled: 'Cancelled' },
    groups: { filing: 'Filings', customer: 'Customers', extension: 'Extensions', lead: 'Leads', order: 'Orders', money: 'Payments and commission' },
    events: {
      label: 'Events',
      filing_submitted: 'Filing to approve', filing_step_waiting: 'Filing at the next step', filing_approved: 'Filing approved', filing_rejected: 'Filing rejected',
      customer_claimed: 'Customer claimed', customer_released: 'Customer released', customer_transferred: 'Customer transferred', protection_ending: 'Protection ending soon',
      idle_release_near: 'Release for no follow-up soon', partner_handover_done: 'Partner handover done',
      extension_requested: 'Extension to approve', extension_step_waiting: 'Extension at the next step', extension_approved: 'Extension approved', extension_rejected: 'Extension rejected',
      lead_assigned: 'Lead assigned', leads_assigned: 'Leads assigned by an import', lead_claim_deadline_near: 'Lead claim deadline near', lead_claim_deadlines_near: 'Claim deadlines of several leads near',
      order_step_waiting: 'Order to approve', order_approved: 'Order approved', order_rejected: 'Order rejected', order_commented: 'Order comment',
      payment_due_soon: 'Payment due soon', payment_overdue: 'Payment overdue', commission_entry_created: 'Commission entry', statement_issued: 'Statement issued',
    },
  },
}
