// Messages: the in-app inbox.
export default {
  messages: {
    title: 'Messages', inbox: 'Inbox', subject: 'Title', body: 'Message', receivedAt: 'Received', show: 'Show', all: 'All',
    unreadOnly: 'Unread', unread: 'Unread: ', readAll: 'Mark all read', allRead: 'All messages marked read', open: 'Open', markRead: 'Mark read',
  },
}
