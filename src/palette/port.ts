import type {Secret} from '../util/secret.js'
import type {ApiKey, ApiKeyEntity, ApiKeyUpdate, Role, User, TenantResourceLimits, UserInfo, UserMeta, UserRoles, UserSummary} from './types.js'

/** What a successful create returns: the only time Palette reveals a key's value. */
export interface CreatedApiKey {
  /**
   * What the answer's `uid` held, if anything: the spec calls it "User uid", so it may be the
   * owner's uid rather than the key's (UNCERTAIN). Never acted on before it is confirmed.
   */
  uid?: string
  apiKey: Secret
}

/**
 * The Palette operations palette-keys needs, and nothing else. The plan and apply code
 * depend on this interface only; the undici adapter and test doubles implement it.
 * Every method rejects with PaletteApiError on failure.
 */
export interface PaletteApi {
  /** GET /v1/apiKeys: every key the caller may see, one response. */
  listApiKeys(): Promise<ApiKey[]>
  /** GET /v1/apiKeys/{uid} */
  getApiKey(uid: string): Promise<ApiKey>
  /** POST /v1/apiKeys; never retried automatically (a duplicate would be a new secret). */
  createApiKey(entity: ApiKeyEntity): Promise<CreatedApiKey>
  /** PUT /v1/apiKeys/{uid}: name, annotations (description) and expiry. */
  updateApiKey(uid: string, update: ApiKeyUpdate): Promise<void>
  /** PUT /v1/apiKeys/{uid}/state: revoke (false) or re-activate (true). */
  setApiKeyActive(uid: string, isActive: boolean): Promise<void>
  /** DELETE /v1/apiKeys/{uid} */
  deleteApiKey(uid: string): Promise<void>
  /** GET /v1/users/info: the caller. */
  whoAmI(): Promise<UserInfo>
  /**
   * GET /v1/users/info with another credential (a value just created): whose key it is. It
   * proves a value before it is sealed; the /v1/users prefix has its own rate-limit budget.
   */
  whoIs(credential: Secret): Promise<UserInfo>
  /** GET /v1/users/meta: every user's uid, e-mail and name, one response. */
  listUsersMeta(): Promise<UserMeta[]>
  /** GET /v1/users/{uid}: one user (a 404 says the user does not exist). */
  getUser(uid: string): Promise<User>
  /** GET /v1/users/{uid}/roles */
  getUserRoles(uid: string): Promise<UserRoles>
  /** POST /v1/users/summary with no filter: every user with status.isActive and lastSignIn, one response (needs user.list). */
  listUsersSummary(): Promise<UserSummary[]>
  /** GET /v1/users, every page (the one user list the spec pages; needs user.list). */
  listUsers(): Promise<User[]>
  /** GET /v1/roles, every page: each role's permissions (who may list roles is undocumented). */
  listRoles(): Promise<Role[]>
  /** Palette's clock (its answers' `Date` header), when it has sent one; this machine's may be wrong. */
  serverTime?(): Date | undefined
  /** GET /v1/tenants/{tenantUid}/resourceLimits: the per-user API key cap among them. */
  getResourceLimits(tenantUid: string): Promise<TenantResourceLimits>
}
