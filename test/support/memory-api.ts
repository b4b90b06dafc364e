import {EmulatorState, apiKeyView, fullName, roleUid, userSummaryView, userView} from '../../src/emulator/state.js'
import {PaletteApiError} from '../../src/palette/errors.js'
import type {CreatedApiKey, PaletteApi} from '../../src/palette/port.js'
import type {ApiKey, ApiKeyEntity, ApiKeyUpdate, Role, TenantResourceLimits, User, UserInfo, UserMeta, UserRoles, UserSummary} from '../../src/palette/types.js'
import {hasServerAnnotation} from '../../src/contract/palette.js'
import {Secret} from '../../src/util/secret.js'
import {fidelityFromEnv} from './fidelity.js'

/**
 * The Palette API as an in-memory model: the emulator's state behind the PaletteApi port,
 * without HTTP, for property tests that run thousands of plans and applies. The caller is
 * a tenant admin. Responses have the shapes the emulator (and the spec) give, and a create
 * over the state's key limit is refused as the emulator refuses it.
 */
export class MemoryPalette implements PaletteApi {
  readonly calls: string[] = []
  /** The emulator mode of `npm run test:fidelity` (create uid, update annotations), as the emulator plays it. */
  private readonly mode = new Map(fidelityFromEnv())

  constructor(
    readonly state: EmulatorState,
    private readonly callerUid: string,
    private readonly now: () => Date,
  ) {}

  private missing(method: string, uid: string): never {
    throw new PaletteApiError({method, path: `/v1/apiKeys/${uid}`, status: 404, paletteCode: 'ResourceNotFound', paletteMessage: 'not found', ambiguous: false, attempts: 1})
  }

  /** --unique-key-names user|tenant, as the emulator plays it: a create or rename to a name another key holds is refused (409). */
  private nameTaken(method: string, path: string, name: string, userUid: string, self?: string): void {
    const scope = this.mode.get('unique-key-names') ?? 'none'
    if (scope === 'none') return
    if (this.state.allKeys().some((k) => k.name === name && k.uid !== self && (scope === 'tenant' || k.userUid === userUid))) {
      throw new PaletteApiError({method, path, status: 409, paletteCode: 'ResourceConflict', paletteMessage: 'name taken', ambiguous: false, attempts: 1})
    }
  }

  async listApiKeys(): Promise<ApiKey[]> {
    this.calls.push('list')
    return this.state.allKeys().map((k) => structuredClone(apiKeyView(this.state, k)) as ApiKey)
  }

  async getApiKey(uid: string): Promise<ApiKey> {
    this.calls.push('get')
    const k = this.state.key(uid) ?? this.missing('GET', uid)
    return structuredClone(apiKeyView(this.state, k)) as ApiKey
  }

  async createApiKey(entity: ApiKeyEntity): Promise<CreatedApiKey> {
    this.calls.push('create')
    this.nameTaken('POST', '/v1/apiKeys', entity.metadata.name, entity.spec.userUid)
    const cap = this.state.limits.apiKeysPerUser
    if (cap > 0 && this.state.keyCount(entity.spec.userUid) >= cap) {
      throw new PaletteApiError({method: 'POST', path: '/v1/apiKeys', status: 400, paletteCode: 'ResourceLimitExceeded', paletteMessage: 'key limit', ambiguous: false, attempts: 1})
    }
    const {record, value} = this.state.createKey(
      {name: entity.metadata.name, userUid: entity.spec.userUid, expiry: entity.spec.expiry, annotations: {...entity.metadata.annotations}, labels: {}},
      this.now(),
    )
    const uid = this.mode.get('create-uid')
    if (uid === 'user') return {uid: entity.spec.userUid, apiKey: new Secret(value)}
    if (uid === 'absent') return {apiKey: new Secret(value)}
    return {uid: record.uid, apiKey: new Secret(value)}
  }

  async updateApiKey(uid: string, update: ApiKeyUpdate): Promise<void> {
    this.calls.push('update')
    const k = this.state.key(uid) ?? this.missing('PUT', uid)
    if (update.metadata.name !== k.name) this.nameTaken('PUT', `/v1/apiKeys/${uid}`, update.metadata.name, k.userUid, uid)
    const mode = this.mode.get('update-annotations')
    if (mode === 'reject' && update.metadata.annotations && hasServerAnnotation(update.metadata.annotations)) {
      throw new PaletteApiError({method: 'PUT', path: `/v1/apiKeys/${uid}`, status: 400, paletteCode: 'BadRequest', paletteMessage: 'server annotation', ambiguous: false, attempts: 1})
    }
    this.state.updateKey(uid, {name: update.metadata.name, annotations: update.metadata.annotations, expiry: update.spec.expiry, exact: mode === 'replace'}, this.now())
  }

  async setApiKeyActive(uid: string, isActive: boolean): Promise<void> {
    this.calls.push('state')
    if (!this.state.key(uid)) this.missing('PUT', uid)
    this.state.setActive(uid, isActive, this.now())
  }

  async deleteApiKey(uid: string): Promise<void> {
    this.calls.push('delete')
    if (!this.state.key(uid)) this.missing('DELETE', uid)
    this.state.deleteKey(uid)
  }

  async whoAmI(): Promise<UserInfo> {
    return {orgName: this.state.tenant.orgName, tenantUid: this.state.tenant.uid, userUid: this.callerUid}
  }

  async whoIs(credential: Secret): Promise<UserInfo> {
    const auth = this.state.authenticate(credential.reveal(), this.now())
    if (!auth.ok) throw new PaletteApiError({method: 'GET', path: '/v1/users/info', status: 401, paletteCode: 'Unauthorized', paletteMessage: 'the API key is invalid', ambiguous: false, attempts: 1})
    return {orgName: this.state.tenant.orgName, tenantUid: this.state.tenant.uid, userUid: auth.user.uid}
  }

  async listUsersMeta(): Promise<UserMeta[]> {
    return this.state.allUsers().map((u) => ({emailId: u.email, name: fullName(u), uid: u.uid}))
  }

  async listUsersSummary(): Promise<UserSummary[]> {
    return this.state.allUsers().map((u) => structuredClone(userSummaryView(u)) as UserSummary)
  }

  async listUsers(): Promise<User[]> {
    return this.state.allUsers().map((u) => structuredClone(userView(u)) as User)
  }

  async listRoles(): Promise<Role[]> {
    return this.state.roleNames().map((name) => ({metadata: {name, uid: roleUid(name)}, spec: {permissions: [...(this.state.roles[name] ?? [])]}}))
  }

  async getResourceLimits(): Promise<TenantResourceLimits> {
    const cap = this.state.limits.apiKeysPerUser
    return {resources: cap > 0 ? [{kind: 'apiKey', limit: cap}] : []}
  }

  async getUser(uid: string): Promise<User> {
    const u = this.state.user(uid)
    if (!u) throw new PaletteApiError({method: 'GET', path: `/v1/users/${uid}`, status: 404, paletteCode: 'ResourceNotFound', paletteMessage: 'not found', ambiguous: false, attempts: 1})
    return structuredClone(userView(u)) as User
  }

  async getUserRoles(uid: string): Promise<UserRoles> {
    const u = this.state.allUsers().find((x) => x.uid === uid)
    return {roles: (u?.roles ?? []).map((name) => ({name, uid: roleUid(name)})), inheritedRoles: []}
  }
}
