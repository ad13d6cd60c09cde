// Products: the catalogue.
export default {
  products: {
    title: 'Products', listLabel: 'Products', search: 'SKU or name', sku: 'SKU', unit: 'Unit', listPrice: 'List price',
    onSale: 'On sale', offSale: 'Off sale', new: 'New product', edit: 'Edit product', saved: 'Product saved', activate: 'Put on sale',
    deactivate: 'Take off sale', activated: 'Product is on sale again', deactivated: 'Product taken off sale; it can no longer be ordered',
    required: 'Required', badPrice: 'An amount with at most two decimals', skuTaken: 'This SKU exists already', unitHint: 'e.g. set, unit, year',
  },
}
