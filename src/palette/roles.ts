/**
 * Built-in Palette roles that hold every apiKey permission (create, delete, get, list,
 * update), so may manage every user's keys. Source: librarium
 * docs/docs-content/user-management/palette-rbac/tenant-scope-roles-permissions.md (NOTES.md).
 */
export const ADMIN_ROLES = ['Tenant Admin', 'Tenant User Admin Role']
