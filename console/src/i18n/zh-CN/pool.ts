// 公海。
export default {
  pool: {
    title: '公海', listLabel: '公海客户列表', id: '编号', name: '客户名称', industry: '行业', contactName: '联系人',
    phone: '联系电话', releasedAt: '释放时间', releasedBy: '原所属伙伴', searchHint: '客户名称',
    intro: '您区域内被释放的客户，领取后即受保护。', introHq: '所有被释放到公海的客户。',
    claim: '领取', claimed: '已领取「{name}」，现受您保护', notClaimed: '未能领取',
    refusals: {
      claim_limit_reached: '。请先释放或成交部分保护中的客户。', cooldown: '。冷却期结束后可再领取。', already_claimed: '。该客户刚被其他伙伴领取。',
    },
  },
}
