// 产品: the catalogue.
export default {
  products: {
    title: '产品', listLabel: '产品列表', search: '产品编码或名称', sku: '产品编码', unit: '单位', listPrice: '目录价',
    onSale: '在售', offSale: '已停售', new: '新建产品', edit: '编辑产品', saved: '产品已保存', activate: '恢复销售', deactivate: '停售',
    activated: '产品已恢复销售', deactivated: '产品已停售，不能再下单', required: '必填', badPrice: '请输入金额，最多两位小数',
    skuTaken: '该产品编码已存在', unitHint: '如：套、台、年',
  },
}
