import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/commissions',
    name: 'commissions',
    component: () => import('./CommissionsView.vue'),
    meta: { title: 'commission.entries.title', menu: { group: 'money', order: 10, icon: 'Coin' } },
  },
  {
    path: '/commissions/statements',
    name: 'commission-statements',
    component: () => import('./StatementsView.vue'),
    meta: { title: 'commission.statements.title', menu: { group: 'money', order: 15, icon: 'Tickets' } },
  },
  {
    path: '/commissions/statements/:id(\\d+)',
    name: 'commission-statement',
    component: () => import('./StatementView.vue'),
    props: (route) => ({ id: Number(route.params.id) }),
    meta: { title: 'commission.statement.title' },
  },
  {
    path: '/commissions/rates',
    name: 'commission-rates',
    component: () => import('./RatesView.vue'),
    meta: {
      title: 'commission.rates.title',
      perm: ['commission.manage'],
      menu: { group: 'money', order: 30, icon: 'Setting' },
    },
  },
]
export default routes
