import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/audit',
    name: 'audit',
    component: () => import('./AuditView.vue'),
    meta: { title: 'audit.title', hq: true, perm: ['audit.read'], menu: { group: 'settings', order: 90, icon: 'Document' } },
  },
]
export default routes
