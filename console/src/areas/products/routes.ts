import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/products',
    name: 'products',
    component: () => import('./ProductsView.vue'),
    meta: { title: 'products.title', menu: { group: 'sales', order: 30, icon: 'Box' } },
  },
]
export default routes
