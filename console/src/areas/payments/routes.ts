import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/payments',
    name: 'payments',
    component: () => import('./PaymentsView.vue'),
    meta: { title: 'payments.title', menu: { group: 'money', order: 20, icon: 'Money' } },
  },
]
export default routes
