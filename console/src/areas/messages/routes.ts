import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/messages',
    name: 'messages',
    component: () => import('./MessagesView.vue'),
    meta: { title: 'messages.title', menu: { group: 'work', order: 90, icon: 'Bell' } },
  },
]
export default routes
