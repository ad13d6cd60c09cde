import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/channels',
    name: 'channels',
    component: () => import('./ChannelsView.vue'),
    meta: { title: 'channels.title', perm: ['channel.manage'], menu: { group: 'settings', order: 40, icon: 'Connection' } },
  },
]
export default routes
