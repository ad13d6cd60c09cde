// Payments received: the list of receipts and refunds, and the money on an order.
export default {
  payments: {
    title: 'Payments', listLabel: 'Payments received', onOrder: 'Payments', order: 'Order', orderNo: 'Order #{id}', kind: 'Kind',
    paid: 'Paid', outstanding: 'Outstanding', receivedOn: 'Received on', methodLabel: 'Method', reference: 'Reference', recordedAt: 'Recorded', recordedBy: 'Recorded by',
    records: 'Receipts and refunds', none: 'Nothing received yet', recordReceipt: 'Record a receipt', recordRefund: 'Record a refund',
    receiptRecorded: 'Receipt recorded', refundRecorded: 'Refund recorded', badAmount: 'An amount above 0 with at most two decimals',
    needDate: 'Choose a date', dueHint: '{amount} of this order is still outstanding', refundHint: '{amount} has been received; a refund cannot exceed it',
    overpayment: 'More than is outstanding: at most {amount} can still be received', overrefund: 'More than was received: at most {amount} can be refunded',
    method: { bank_transfer: 'Bank transfer', cash: 'Cash', check: 'Cheque', other: 'Other' },
    plan: {
      title: 'Payment plan', default: 'Default: all of it 30 days after approval', dueDate: 'Due on', dueDateOf: 'Due date of installment {n}',
      installment: 'Installment {n}', edit: 'Change the plan', add: 'Add an installment', remove: 'Remove installment {n}', saved: 'Payment plan saved',
      planned: 'Planned {amount} of {total}', balanced: 'matches the order total', short: '{amount} still to plan', over: '{amount} too much',
      badAmounts: 'an amount is not valid',
    },
  },
}
