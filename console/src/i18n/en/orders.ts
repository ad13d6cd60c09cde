// Orders: the list, drafting, the order page, the partner's credit.
export default {
  orders: {
    title: 'Orders', newTitle: 'New order', detailTitle: 'Order', detailHeading: 'Order {contract}', new: 'New order',
    listLabel: 'Orders', search: 'Contract no. or customer', customerFilter: 'Orders of customer #{id}', contractNo: 'Contract no.', customer: 'Customer', total: 'Total',
    totalQuantity: 'Quantity', paymentStatus: 'Payment', approvedAt: 'Approved', submittedAt: 'Submitted',
    completedAt: 'Delivered', cancelledAt: 'Cancelled', customerSource: 'Customer source', notes: 'Notes', header: 'Order details',
    lines: 'Lines', saveDraft: 'Save draft', saved: 'Order saved', submit: 'Submit for approval', submitted: 'Submitted for approval',
    confirmSubmit: 'Once submitted the order is in approval and cannot be changed. Submit it?', approved: 'Approved', rejected: 'Rejected',
    approveComment: 'Comment (optional)', rejectComment: 'Why is it rejected?', needComment: 'Please fill this in',
    cancel: 'Cancel order', cancelled: 'Order cancelled', cancelReason: 'Reason (required for an approved order)',
    complete: 'Mark delivered', completed: 'Marked delivered', confirmComplete: 'Has this order been delivered to the customer?',
    creditExceeded: 'The order total {total} is beyond the credit available, {available}. Ask headquarters to raise the limit, or submit once payments have come in.',
    source: { partner: 'Found by the partner', hq: 'Assigned by HQ' },
    credit: { title: 'Credit', limit: 'Credit limit', outstanding: 'Owed', available: 'Available' },
    line: {
      product: 'Product of line {n}', sku: 'SKU', name: 'Product', unit: 'Unit', quantity: 'Quantity', unitPrice: 'Unit price',
      listPrice: 'List price', discount: 'Discount', amount: 'Amount', add: 'Add a product', remove: 'Remove line {n}',
    },
    form: {
      customerPlaceholder: 'Type to search customers', noCustomers: 'No protected customers', productPlaceholder: 'Type a SKU or name',
      chooseCustomer: 'Choose a customer', needContractNo: 'Enter the contract number', needLine: 'Add at least one product',
      chooseProduct: 'Choose a product', badQuantity: 'A whole number from 1 to {max}', badPrice: 'An amount with at most two decimals',
    },
    commission: {
      title: 'Commission', summary: 'Commission rate {rate}, commission {amount}', accrued: '{amount} accrued so far',
      basis: { approval: 'All of it when the order is approved', collection: 'As payments are received' },
    },
    problems: {
      same_approver: 'You submitted this order or decided another of its steps; someone else decides this one',
      refund_first: 'This order has been paid: record a refund before cancelling it',
      plan_total_mismatch: 'The installments must add up to the order total', overrefund: 'More than was received',
      sku_taken: 'This SKU exists already', idempotency_key_reused: 'The request changed; please send it again',
    },
    comments: { title: 'Discussion', none: 'No comments yet', add: 'Comment', post: 'Post', me: 'Me' },
  },
}
