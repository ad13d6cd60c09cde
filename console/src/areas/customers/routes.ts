import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/customers',
    name: 'customers',
    component: () => import('./CustomersView.vue'),
    meta: { title: 'customers.title', menu: { group: 'work', order: 10, icon: 'User' } },
  },
  {
    path: '/customers/new',
    name: 'customer-new',
    component: () => import('./CustomerNewView.vue'),
    meta: { title: 'customers.newTitle', perm: ['customer.create'], partner: true },
  },
  {
    path: '/customers/:id(\\d+)',
    name: 'customer',
    component: () => import('./CustomerDetailView.vue'),
    meta: { title: 'customers.detailTitle' },
  },
]
export default routes
