// Every page is a route of an area (src/areas/<area>/routes.ts), loaded when first opened.
// A route's meta says who may open it and where it sits in the menu:
//   title: catalogue key; perm: any of these permissions; hq / partner: only such users;
//   menu: { group, order, icon } (no menu: reached from another page).
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { loadTokens } from './api/tokens'
import { isHq, isPartner, can, loadMe, session } from './session'

export interface MenuMeta {
  group: 'work' | 'channel' | 'sales' | 'money' | 'reports' | 'settings'
  order: number
  icon: string
}

declare module 'vue-router' {
  interface RouteMeta {
    title?: string
    perm?: string[]
    hq?: boolean
    partner?: boolean
    public?: boolean
    menu?: MenuMeta
  }
}

const areas = import.meta.glob<{ default: RouteRecordRaw[] }>('./areas/*/routes.ts', { eager: true })
export const pages: RouteRecordRaw[] = Object.values(areas).flatMap((module) => module.default)

export function allowed(meta: RouteRecordRaw['meta']): boolean {
  if (!meta || meta.public) return true
  if (!session.me) return false
  if (meta.hq && !isHq.value) return false
  if (meta.partner && !isPartner.value) return false
  if (meta.perm && meta.perm.length > 0 && !can(...meta.perm)) return false
  return true
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/login', name: 'login', component: () => import('./areas/shell/LoginView.vue'), meta: { public: true, title: 'shell.signIn' } },
    {
      path: '/',
      component: () => import('./layout/AppLayout.vue'),
      children: [...pages.filter((p) => p.path !== '/login'), { path: '/:rest(.*)*', name: 'missing', component: () => import('./areas/shell/MissingView.vue') }],
    },
  ],
})

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (!loadTokens()) return { name: 'login', query: { next: to.fullPath } }
  if (!session.me) {
    try {
      await loadMe()
    } catch {
      return { name: 'login', query: { next: to.fullPath } }
    }
  }
  if (!allowed(to.meta)) return { name: 'dashboard' }
  return true
})
