import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/leads',
    name: 'leads',
    component: () => import('./LeadsView.vue'),
    meta: { title: 'leads.title', menu: { group: 'work', order: 20, icon: 'Tickets' } },
  },
  {
    path: '/leads/:id(\\d+)',
    name: 'lead',
    component: () => import('./LeadDetailView.vue'),
    meta: { title: 'leads.detail' },
  },
]
export default routes
