/**
 * Palette's contract: the facts about the API that the client and the emulator both rely on,
 * each with its source (NOTES.md in ../shared/palette-api, schemas/palette-api/). The client
 * (src/palette, src/live, src/apply) and the emulator (src/emulator) import these from here and
 * never from each other.
 */

/**
 * Annotations Palette sets on a key itself (the real list sample in NOTES.md). Whether an
 * update may send them back, must send them back (a server that replaces the whole map) or
 * must not (a server that rejects them) is UNCERTAIN; the client copes with all three.
 */
export const SERVER_ANNOTATIONS: readonly string[] = ['ownerUid', 'permissions', 'scope', 'scopeVisibility', 'tenantUid']

/** Every annotation but the server's own. */
export function clientAnnotations(all: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(all).filter(([k]) => !SERVER_ANNOTATIONS.includes(k)))
}

/** True when the map holds an annotation only the server sets. */
export function hasServerAnnotation(map: Record<string, string>): boolean {
  return SERVER_ANNOTATIONS.some((k) => Object.hasOwn(map, k))
}

/**
 * Built-in Palette roles that hold every apiKey permission, so may manage every user's keys.
 * Source: librarium docs/docs-content/user-management/palette-rbac/tenant-scope-roles-permissions.md.
 */
export const ADMIN_ROLES: readonly string[] = ['Tenant Admin', 'Tenant User Admin Role']

/**
 * The permissions that make a role an API key admin, whatever its name (a custom role holding
 * all of them works as one). The `permissions` annotation of every real key lists these.
 */
export const API_KEY_PERMISSIONS: readonly string[] = ['apiKey.create', 'apiKey.delete', 'apiKey.get', 'apiKey.list', 'apiKey.update']

/**
 * Built-in roles that may read every key but change none: Palette's docs give Tenant Viewer,
 * Tenant Project Admin and Tenant Team Admin `apiKey` Get and List only (tenant-scope-roles-permissions.md).
 * A caller who sees other users' keys is therefore no proof of rights to change them.
 */
export const KEY_VIEWER_ROLES: readonly string[] = ['Tenant Viewer', 'Tenant Project Admin', 'Tenant Team Admin']
export const KEY_VIEWER_PERMISSIONS: readonly string[] = ['apiKey.get', 'apiKey.list']

/** The permission that lists users (GET /v1/users, POST /v1/users/summary). */
export const USER_LIST_PERMISSION = 'user.list'

/**
 * The audit log (GET /v1/audits, GET /v1/audits/{uid}, .../sysMsg, PATCH .../userMsg). Which
 * roles may read it is undocumented for the API (UNCERTAIN): the emulator gives these to the
 * admin roles only, and a refusal is an ordinary 403.
 */
export const AUDIT_LIST_PERMISSION = 'audit.list'
export const AUDIT_GET_PERMISSION = 'audit.get'
export const AUDIT_UPDATE_PERMISSION = 'audit.update'
export const AUDIT_PERMISSIONS: readonly string[] = [AUDIT_GET_PERMISSION, AUDIT_LIST_PERMISSION, AUDIT_UPDATE_PERMISSION]

/**
 * The `resourceKind` of an API key in the audit log. The spec gives the filter no values; the
 * one place it names the kind of an API key is v1ResourceLimitType (`apiKey`), so that is used.
 * UNCERTAIN: a client should find a key's entries by `resourceUid`, never by kind alone.
 */
export const AUDIT_API_KEY_KIND = 'apiKey'

/** The audit log's retention: "audits are retained for one year" (docs, audit-logs/audit-logs.md). */
export const AUDIT_RETENTION_DAYS = 365

/** The `permissions` annotation Palette puts on a key (NOTES.md, real list sample). */
export const KEY_PERMISSIONS_ANNOTATION = 'apiKey.create,apiKey.delete,apiKey.get,apiKey.list,apiKey.update,tag.update'

/** True when these permissions let a caller manage every user's keys. */
export function grantsKeyAdmin(permissions: Iterable<string>): boolean {
  const held = new Set(permissions)
  return API_KEY_PERMISSIONS.every((p) => held.has(p))
}

/**
 * Palette's default cap on API keys per user: docs (librarium tenant-settings/palette-resource-limits.md)
 * "API Keys | 20 | User"; the Terraform provider's spectrocloud_resource_limit defaults api_keys to 20.
 * Read from GET /v1/tenants/{tenantUid}/resourceLimits, kind `apiKey`. Whether revoked keys
 * count is UNCERTAIN: they are counted.
 */
export const DEFAULT_API_KEYS_PER_USER = 20
export const API_KEY_LIMIT_KIND = 'apiKey'

export function resourceLimitsPath(tenantUid: string): string {
  return `/v1/tenants/${encodeURIComponent(tenantUid)}/resourceLimits`
}

/**
 * The shape of every Palette uid: 24 lowercase hex characters (a MongoDB ObjectId). Sources:
 * NOTES.md, the real list sample in librarium delete-api-key.md (`66e844c44bab2337f20c7471`),
 * and the docs' samples of users, tenants and roles. A uid from a server's answer is data: it
 * becomes a request path, a sealed file's name and plan output, so nothing is done under one
 * that does not have this shape (a server answering with the caller's API key as a uid would
 * otherwise get it written into a file name that CI commits to git).
 */
export const PALETTE_UID_PATTERN = '^[0-9a-f]{24}$'
const PALETTE_UID = new RegExp(PALETTE_UID_PATTERN)

export function isPaletteUid(value: unknown): value is string {
  return typeof value === 'string' && PALETTE_UID.test(value)
}

/**
 * The docs' page size: "Default and maximum value of the limit is 50" (spec, GET /v1/users;
 * the docs say list endpoints return at most 50 items a page). GET /v1/apiKeys, GET
 * /v1/users/meta and POST /v1/users/summary declare no paging, so a server that cuts them
 * there says nothing: an answer of exactly this many items may be cut (UNCERTAIN), and
 * nothing may be done on the absence of what it may not show.
 */
export const DOCUMENTED_PAGE_SIZE = 50

export function possiblyCut(items: number): boolean {
  return items === DOCUMENTED_PAGE_SIZE
}

/** Palette's "unset" timestamp (NOTES.md, real list sample). */
export const ZERO_TIME = '0001-01-01T00:00:00.000Z'

/** Palette's error codes (v1Error.code) that either side names. */
export const ErrorCode = {
  NotFound: 'ResourceNotFound',
  Unauthorized: 'Unauthorized',
  Forbidden: 'OperationForbidden',
  BadRequest: 'BadRequest',
  TooManyRequests: 'TooManyRequests',
  /** What the emulator answers a create or rename to a name another key holds with, under --unique-key-names (the spec declares none). */
  Conflict: 'ResourceConflict',
  /** What the emulator answers a create over the key cap with (the spec declares no code for it). */
  LimitExceeded: 'ResourceLimitExceeded',
} as const

/**
 * Endpoints every valid credential may call and that name no object: who am I, and the list of
 * one's own keys. A 403, or a 404 with ResourceNotFound, there cannot mean "not allowed" or "no
 * such key", so it is read as a refused credential (palette-sdk-go: "redact api keys in auth
 * ResourceNotFound errors"; Spectro's Terraform mock answers 403).
 */
export function answersEveryCredential(method: string, path: string): boolean {
  const p = path.split('?')[0] ?? ''
  return method === 'GET' && (p === '/v1/users/info' || p === '/v1/apiKeys')
}

/** Whether this answer says the credential was refused, however the server words it. */
export function isCredentialFailure(method: string, path: string, status: number | undefined, code: string | undefined): boolean {
  if (status === 401) return true
  if (!answersEveryCredential(method, path)) return false
  return status === 403 || (status === 404 && (code === undefined || code === ErrorCode.NotFound))
}

/** How a credential failure may be answered: 401, 403, or 404 ResourceNotFound (UNCERTAIN, NOTES.md). */
export const AUTH_FAILURE_STATUSES = [401, 403, 404] as const
export type AuthFailureStatus = (typeof AUTH_FAILURE_STATUSES)[number]
