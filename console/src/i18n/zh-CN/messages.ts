// 消息: the in-app inbox.
export default {
  messages: {
    title: '消息', inbox: '消息列表', subject: '标题', body: '内容', receivedAt: '时间', show: '显示', all: '全部',
    unreadOnly: '未读', unread: '未读：', readAll: '全部已读', allRead: '已全部标为已读', open: '查看', markRead: '标为已读',
  },
}
