import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/approvals',
    name: 'approvals',
    component: () => import('./ApprovalsView.vue'),
    meta: {
      title: 'approvals.title',
      hq: true,
      perm: ['filing.approve', 'extension.approve', 'order.approve.sales', 'order.approve.finance', 'order.approve.director'],
      menu: { group: 'work', order: 5, icon: 'Checked' },
    },
  },
]
export default routes
