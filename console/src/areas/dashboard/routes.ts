import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/',
    name: 'dashboard',
    component: () => import('./DashboardView.vue'),
    meta: { title: 'dashboard.title', menu: { group: 'work', order: 0, icon: 'House' } },
  },
]
export default routes
