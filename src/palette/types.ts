/**
 * TypeScript shapes of the Palette definitions we use, named after them
 * (schemas/palette-api/apikeys.openapi.json). The spec marks no field required, so
 * everything a server sends is optional here and is checked where it is used.
 */

/** v1ObjectMeta */
export interface ObjectMeta {
  annotations?: Record<string, string>
  creationTimestamp?: string
  deletionTimestamp?: string
  labels?: Record<string, string>
  lastModifiedTimestamp?: string
  name?: string
  uid?: string
}

/** v1ApiKey (the list and get shape; never carries the value) */
export interface ApiKey {
  metadata?: ObjectMeta
  spec?: {
    expiry?: string
    /** Deprecated in the spec; Palette does not return it and we never read it. */
    key?: string
    user?: {firstName?: string; lastName?: string; uid?: string}
  }
  status?: {isActive?: boolean}
}

/** v1ApiKeyEntity: the POST /v1/apiKeys body */
export interface ApiKeyEntity {
  metadata: {name: string; annotations?: Record<string, string>}
  spec: {expiry: string; userUid: string}
}

/** v1ApiKeyUpdate: the PUT /v1/apiKeys/{uid} body */
export interface ApiKeyUpdate {
  metadata: {name: string; annotations?: Record<string, string>}
  spec: {expiry: string}
}

/** v1UserInfo: who am I */
export interface UserInfo {
  orgName?: string
  tenantUid?: string
  userUid?: string
}

/** v1UserMetaEntity */
export interface UserMeta {
  emailId?: string
  name?: string
  uid?: string
}

/** v1User (GET /v1/users/{uid}) */
export interface User {
  metadata?: ObjectMeta
  spec?: {emailId?: string; firstName?: string; lastName?: string; roles?: string[]}
  status?: {isActive?: boolean; lastSignIn?: string}
}

/** v1UidSummary */
export interface UidSummary {
  name?: string
  uid?: string
}

/** v1UserRolesEntity */
export interface UserRoles {
  roles?: UidSummary[]
  inheritedRoles?: UidSummary[]
}

/** v1Error: Palette's error body */
export interface PaletteErrorBody {
  code?: string
  message?: string
  ref?: string
  details?: Record<string, unknown>
}

/** v1UserSummary (POST /v1/users/summary items) */
export interface UserSummary {
  metadata?: ObjectMeta
  spec?: {emailId?: string; firstName?: string; lastName?: string; roles?: UidSummary[]}
  status?: {isActive?: boolean; lastSignIn?: string}
}

/** v1Role (GET /v1/roles items) */
export interface Role {
  metadata?: ObjectMeta
  spec?: {permissions?: string[]; scope?: string; type?: string}
}

/** v1TenantResourceLimit */
export interface TenantResourceLimit {
  kind?: string
  label?: string
  limit?: number
  maxLimit?: number
}

/** v1TenantResourceLimits: GET /v1/tenants/{tenantUid}/resourceLimits */
export interface TenantResourceLimits {
  resources?: TenantResourceLimit[]
}
