// The roles one may hand out (GET /roles, every page), and the permission catalogue.
import { ref } from 'vue'
import { api, unwrap } from '@/api/client'
import type { components } from '@/api/schema'

export type Role = components['schemas']['RoleOut']
export type Permission = components['schemas']['PermissionOut']

export const roles = ref<Role[]>([])
export const permissions = ref<Permission[]>([])

export async function loadRoles(): Promise<Role[]> {
  const all: Role[] = []
  try {
    for (let page = 1; page <= 20; page += 1) {
      const answer = unwrap(await api.GET('/api/v1/roles', { params: { query: { page, per_page: 100 } } }))
      all.push(...(answer.items ?? []))
      if (all.length >= (answer.total ?? 0) || (answer.items ?? []).length === 0) break
    }
  } catch {
    // Without role.manage an HQ user manager gets no list; role codes can still be typed.
  }
  roles.value = all
  return all
}

export async function loadPermissions(): Promise<Permission[]> {
  if (permissions.value.length === 0) permissions.value = unwrap(await api.GET('/api/v1/permissions'))
  return permissions.value
}

export function roleName(code: string): string {
  return roles.value.find((role) => role.code === code)?.name ?? code
}
