import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/settings/grades',
    name: 'settings-grades',
    component: () => import('./GradesView.vue'),
    meta: { title: 'settings.grades', hq: true, menu: { group: 'settings', order: 30, icon: 'Setting' } },
  },
  {
    path: '/settings/partner-types',
    name: 'settings-partner-types',
    component: () => import('./PartnerTypesView.vue'),
    meta: { title: 'settings.types', hq: true, menu: { group: 'settings', order: 40, icon: 'Setting' } },
  },
  {
    path: '/settings/flows',
    name: 'settings-flows',
    component: () => import('./FlowsView.vue'),
    meta: { title: 'settings.flows', hq: true, perm: ['flow.manage'], menu: { group: 'settings', order: 50, icon: 'Setting' } },
  },
]
export default routes
