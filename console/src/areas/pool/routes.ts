import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/pool',
    name: 'pool',
    component: () => import('./PoolView.vue'),
    // Partners claim from it; HQ staff who look after customers and partners read it.
    meta: {
      title: 'pool.title',
      perm: ['pool.claim', 'customer.transfer', 'partner.manage'],
      menu: { group: 'channel', order: 20, icon: 'Promotion' },
    },
  },
]
export default routes
