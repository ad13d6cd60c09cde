import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/orders',
    name: 'orders',
    component: () => import('./OrdersView.vue'),
    meta: { title: 'orders.title', menu: { group: 'sales', order: 10, icon: 'Document' } },
  },
  {
    path: '/orders/new',
    name: 'order-new',
    component: () => import('./OrderNewView.vue'),
    meta: { title: 'orders.newTitle', perm: ['order.create'], partner: true },
  },
  {
    path: '/orders/:id(\\d+)',
    name: 'order',
    component: () => import('./OrderDetailView.vue'),
    props: (route) => ({ id: Number(route.params.id) }),
    meta: { title: 'orders.detailTitle' },
  },
]
export default routes
