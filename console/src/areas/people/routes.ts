import type { RouteRecordRaw } from 'vue-router'

const routes: RouteRecordRaw[] = [
  {
    path: '/users',
    name: 'users',
    component: () => import('./UsersView.vue'),
    meta: { title: 'people.users', perm: ['user.manage'], menu: { group: 'settings', order: 10, icon: 'User' } },
  },
  {
    path: '/roles',
    name: 'roles',
    component: () => import('./RolesView.vue'),
    meta: { title: 'people.rolesTitle', perm: ['role.manage'], hq: true, menu: { group: 'settings', order: 20, icon: 'Lock' } },
  },
]
export default routes
