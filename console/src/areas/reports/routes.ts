import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/reports',
    name: 'reports',
    component: () => import('./ReportsView.vue'),
    meta: { title: 'reports.title', perm: ['report.read'], menu: { group: 'reports', order: 10, icon: 'DataAnalysis' } },
  },
]
export default routes
