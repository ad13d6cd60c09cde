import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/partners',
    name: 'partners',
    component: () => import('./PartnersView.vue'),
    meta: { title: 'partners.title', menu: { group: 'channel', order: 10, icon: 'OfficeBuilding' } },
  },
  {
    path: '/partners/:id(\\d+)',
    name: 'partner',
    component: () => import('./PartnerDetailView.vue'),
    meta: { title: 'partners.detail' },
  },
]
export default routes
