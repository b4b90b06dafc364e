import {API_KEY_LIMIT_KIND, AUDIT_API_KEY_KIND, AUDIT_GET_PERMISSION, AUDIT_LIST_PERMISSION, AUDIT_UPDATE_PERMISSION, ErrorCode, hasServerAnnotation, USER_LIST_PERMISSION} from '../contract/palette.js'
import {paletteSpec} from '../contract/spec.js'
import type {Fidelity} from './fidelity.js'
import {apiKeyView, type AuditRecord, auditView, type EmulatorState, fullName, type KeyRecord, roleUid, type UserRecord, userSummaryView, userView} from './state.js'

/** What a route handler sees. */
export interface RouteContext {
  state: EmulatorState
  fidelity: Fidelity
  caller: UserRecord
  admin: boolean
  /** What the caller's roles hold (admins: every apiKey permission). */
  permissions: Set<string>
  params: Record<string, string>
  query: URLSearchParams
  body: unknown
  now: Date
}

export interface RouteResult {
  status: number
  body?: unknown
  /** True when the handler changed the state (persist it; maybe drop the connection). */
  mutated?: boolean
}

export interface Route {
  method: string
  template: string
  pattern: RegExp
  handler: (ctx: RouteContext) => RouteResult
}

export function paletteError(status: number, code: string, message: string): RouteResult {
  return {status, body: {code, message}}
}

const PAGE_MAX = 50

/** The endpoints the emulator serves, each as the spec and NOTES.md describe it. */
export const ROUTES: Route[] = [
  route('GET', '/v1/apiKeys', (ctx) => {
    const {state, caller, admin} = ctx
    // Who lists every key: admins, or (--list-keys-with) any role holding that one permission.
    const all = admin || (ctx.fidelity.listKeysWith !== undefined && ctx.permissions.has(ctx.fidelity.listKeysWith))
    return {status: 200, body: {items: cut(ctx, state.allKeys().filter((k) => all || k.userUid === caller.uid)).map((k) => apiKeyView(state, k))}}
  }),
  route('POST', '/v1/apiKeys', (ctx) => {
    const {state, caller, admin, now} = ctx
    const invalid = checkBody(ctx, 'POST', '/v1/apiKeys')
    if (invalid) return invalid
    const body = ctx.body as {metadata?: {name?: string; annotations?: Record<string, string>; labels?: Record<string, string>}; spec?: {expiry?: string; userUid?: string}}
    const name = body.metadata?.name
    if (!name || name.trim() === '') return paletteError(400, 'BadRequest', 'metadata.name is required')
    const expiryProblem = checkExpiry(body.spec?.expiry, now, true)
    if (expiryProblem) return expiryProblem
    // spec.userUid may be omitted: the key is then the caller's (UNCERTAIN in NOTES.md).
    const userUid = body.spec?.userUid || caller.uid
    if (userUid !== caller.uid && !admin && !ctx.permissions.has('apiKey.create')) {
      return paletteError(403, 'OperationForbidden', 'only a tenant admin may create API keys for another user')
    }
    if (!state.user(userUid)) return paletteError(404, 'ResourceNotFound', `user ${userUid} not found`)
    const taken = nameTaken(ctx, name, userUid)
    if (taken) return taken
    const cap = state.limits.apiKeysPerUser
    // The spec declares no status for this; a v1Error with 400 is what its other validation errors get.
    if (cap > 0 && state.keyCount(userUid) >= cap) return paletteError(400, ErrorCode.LimitExceeded, `the user already holds ${cap} API keys, the tenant's limit`)
    const {record, value} = state.createKey(
      {name, userUid, expiry: body.spec!.expiry!, annotations: body.metadata?.annotations ?? {}, labels: body.metadata?.labels ?? {}},
      now,
    )
    auditKey(ctx, 'create', record, `API key '${name}' created`, `owner ${state.user(userUid)!.email}, expiry ${record.expiry}`)
    const uid = {key: {uid: record.uid}, user: {uid: userUid}, absent: {}}[ctx.fidelity.createUid]
    return {status: 201, body: {apiKey: value, ...uid}, mutated: true}
  }),
  route('GET', '/v1/apiKeys/{uid}', (ctx) => withKey(ctx, 'apiKey.get', (k) => ({status: 200, body: apiKeyView(ctx.state, k)}))),
  route('PUT', '/v1/apiKeys/{uid}', (ctx) =>
    withKey(ctx, 'apiKey.update', (k) => {
      const invalid = checkBody(ctx, 'PUT', '/v1/apiKeys/{uid}')
      if (invalid) return invalid
      // v1ApiKeySpecUpdate has only `expiry`: a `spec.userUid` sent here is ignored, as a
      // server unmarshalling into that type would; the owner of a key never changes.
      const body = ctx.body as {metadata?: {name?: string; annotations?: Record<string, string>}; spec?: {expiry?: string}}
      const name = body.metadata?.name
      if (name !== undefined && name.trim() === '') return paletteError(400, 'BadRequest', 'metadata.name must not be empty')
      const taken = name === undefined || name === k.name ? undefined : nameTaken(ctx, name, k.userUid, k.uid)
      if (taken) return taken
      const expiryProblem = checkExpiry(body.spec?.expiry, ctx.now, false)
      if (expiryProblem) return expiryProblem
      const annotations = body.metadata?.annotations
      const mode = ctx.fidelity.updateAnnotations
      if (mode === 'reject' && annotations && hasServerAnnotation(annotations)) {
        return paletteError(400, ErrorCode.BadRequest, 'metadata.annotations holds an annotation that Palette sets itself')
      }
      const before = k.name
      ctx.state.updateKey(k.uid, {name, annotations, expiry: body.spec?.expiry, exact: mode === 'replace'}, ctx.now)
      const changed = [name !== undefined && name !== before ? `name '${before}' → '${name}'` : '', annotations ? 'annotations' : '', body.spec?.expiry ? `expiry ${k.expiry}` : '']
      auditKey(ctx, 'update', k, `API key '${k.name}' updated`, changed.filter(Boolean).join(', '))
      return {status: 204, mutated: true}
    }),
  ),
  route('PATCH', '/v1/apiKeys/{uid}', (ctx) => setState(ctx, 'PATCH', '/v1/apiKeys/{uid}')),
  route('PUT', '/v1/apiKeys/{uid}/state', (ctx) => setState(ctx, 'PUT', '/v1/apiKeys/{uid}/state')),
  route('DELETE', '/v1/apiKeys/{uid}', (ctx) =>
    withKey(ctx, 'apiKey.delete', (k) => {
      ctx.state.deleteKey(k.uid)
      auditKey(ctx, 'delete', k, `API key '${k.name}' deleted`, '')
      return {status: 204, mutated: true}
    }),
  ),
  route('GET', '/v1/users/info', ({state, caller}) => ({
    status: 200,
    body: {orgName: state.tenant.orgName, tenantUid: state.tenant.uid, userUid: caller.uid},
  })),
  route('GET', '/v1/users/meta', (ctx) => ({
    status: 200,
    body: {items: cut(ctx, ctx.state.allUsers()).map((u) => ({emailId: u.email, name: fullName(u), uid: u.uid}))},
  })),
  route('GET', '/v1/users', listUsers),
  route('GET', '/v1/roles', listRoles),
  route('GET', '/v1/tenants/{tenantUid}/resourceLimits', (ctx) =>
    withTenant(ctx, () => {
      const cap = ctx.state.limits.apiKeysPerUser
      return {status: 200, body: {resources: cap > 0 ? [{kind: API_KEY_LIMIT_KIND, label: 'API Keys', limit: cap, maxLimit: Math.max(cap, 100)}] : []}}
    }),
  ),
  route('PATCH', '/v1/tenants/{tenantUid}/resourceLimits', (ctx) =>
    withTenant(ctx, () => {
      const invalid = checkBody(ctx, 'PATCH', '/v1/tenants/{tenantUid}/resourceLimits')
      if (invalid) return invalid
      const resources = (ctx.body as {resources?: Array<{kind?: string; limit?: number}>}).resources ?? []
      const entry = resources.find((r) => r.kind === API_KEY_LIMIT_KIND)
      if (entry?.limit === undefined) return {status: 204}
      if (!Number.isInteger(entry.limit) || entry.limit < 0) return paletteError(400, ErrorCode.BadRequest, 'limit must be a non-negative integer')
      ctx.state.limits = {apiKeysPerUser: entry.limit}
      return {status: 204, mutated: true}
    }),
  ),
  route('POST', '/v1/users/summary', usersSummary),
  route('GET', '/v1/users/{uid}', (ctx) => withUser(ctx, (u) => ({status: 200, body: userView(u)}))),
  route('GET', '/v1/audits', listAudits),
  route('GET', '/v1/audits/{uid}', (ctx) => withAudit(ctx, AUDIT_GET_PERMISSION, (a) => ({status: 200, body: auditView(ctx.state, a)}))),
  route('GET', '/v1/audits/{uid}/sysMsg', (ctx) => withAudit(ctx, AUDIT_GET_PERMISSION, (a) => ({status: 200, body: {actionMsg: a.actionMsg, contentMsg: a.contentMsg}}))),
  route('PATCH', '/v1/audits/{uid}/userMsg', (ctx) =>
    withAudit(ctx, AUDIT_UPDATE_PERMISSION, (a) => {
      const invalid = checkBody(ctx, 'PATCH', '/v1/audits/{uid}/userMsg')
      if (invalid) return invalid
      const userMsg = (ctx.body as {userMsg?: string}).userMsg
      if (userMsg === undefined) return paletteError(400, ErrorCode.BadRequest, 'userMsg is required')
      ctx.state.setAuditUserMsg(a.uid, userMsg, ctx.now)
      return {status: 204, mutated: true}
    }),
  ),
  route('GET', '/v1/users/{uid}/roles', (ctx) =>
    withUser(ctx, (u) => ({status: 200, body: {roles: u.roles.map((name) => ({name, uid: roleUid(name)})), inheritedRoles: []}})),
  ),
]

function route(method: string, template: string, handler: Route['handler']): Route {
  const pattern = new RegExp('^' + template.replace(/\{([^}]+)\}/g, '(?<$1>[^/]+)') + '$')
  return {method, template, pattern, handler}
}

/** Checks the body against the operation's body schema in the official spec. */
function checkBody(ctx: RouteContext, method: string, template: string): RouteResult | undefined {
  const validate = paletteSpec().operation(method, template)?.body
  if (ctx.body === undefined) return paletteError(400, 'BadRequest', 'a JSON request body is required')
  if (validate && !validate(ctx.body)) {
    const first = validate.errors?.[0]
    return paletteError(400, 'BadRequest', `request body ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`)
  }
  return undefined
}

/**
 * --unique-key-names user|tenant: v1ObjectMeta says "Name must be unique within a namespace",
 * and the docs find a key by its name. Which namespace (a user's keys, or the tenant's) is
 * UNCERTAIN; revoked and expired keys count. The spec declares no error for it: 409 Conflict is
 * HTTP's answer to a request that conflicts with the current state of the target (RFC 9110
 * 15.5.10), with a v1Error body; a client must not rely on either, only avoid the conflict.
 */
function nameTaken(ctx: RouteContext, name: string, userUid: string, self?: string): RouteResult | undefined {
  const scope = ctx.fidelity.uniqueKeyNames
  if (scope === 'none') return undefined
  const clash = ctx.state.allKeys().find((k) => k.name === name && k.uid !== self && (scope === 'tenant' || k.userUid === userUid))
  if (!clash) return undefined
  return paletteError(409, ErrorCode.Conflict, `an API key named "${name}" already exists ${scope === 'tenant' ? 'in this tenant' : 'for this user'}`)
}

function checkExpiry(expiry: string | undefined, now: Date, required: boolean): RouteResult | undefined {
  if (expiry === undefined) return required ? paletteError(400, 'BadRequest', 'spec.expiry is required') : undefined
  const at = Date.parse(expiry)
  if (Number.isNaN(at)) return paletteError(400, 'BadRequest', 'spec.expiry must be an RFC 3339 date-time')
  if (at <= now.getTime()) return paletteError(400, 'BadRequest', 'spec.expiry must be in the future')
  return undefined
}

/** A key of the caller, or of anyone for a caller whose roles hold `permission` (admins hold every one). */
function withKey(ctx: RouteContext, permission: string, f: (k: KeyRecord) => RouteResult): RouteResult {
  const k = ctx.state.key(ctx.params.uid ?? '')
  if (!k) return paletteError(404, 'ResourceNotFound', `API key ${ctx.params.uid} not found`)
  if (k.userUid !== ctx.caller.uid && !ctx.admin && !ctx.permissions.has(permission)) {
    return paletteError(403, 'OperationForbidden', 'users may only act on their own API keys')
  }
  return f(k)
}

/** Tenant settings: the caller's own tenant, tenant admins only. */
function withTenant(ctx: RouteContext, f: () => RouteResult): RouteResult {
  if (ctx.params.tenantUid !== ctx.state.tenant.uid) return paletteError(404, ErrorCode.NotFound, `tenant ${ctx.params.tenantUid} not found`)
  if (!ctx.admin) return paletteError(403, ErrorCode.Forbidden, 'tenant settings need a tenant admin role')
  return f()
}

/**
 * GET /v1/roles: every role with its permissions, one page (the emulator has few). Open to any
 * valid key: who may list roles is undocumented (UNCERTAIN); the client takes a refusal as "no
 * admin rights".
 */
function listRoles(ctx: RouteContext): RouteResult {
  const all = ctx.state.roleNames().map((name) => ({
    metadata: {name, uid: roleUid(name)},
    spec: {permissions: [...ctx.state.permissions({...ctx.caller, roles: [name]})].sort(), scope: 'tenant', type: ctx.state.roles[name] ? 'user' : 'system'},
    status: {},
  }))
  const filters = parseFilters(ctx.query.get('filters'), ROLE_FILTER_FIELDS)
  if (typeof filters === 'string') return paletteError(400, ErrorCode.BadRequest, filters)
  const items = all.filter((r) => filters.every(([field, value]) => ROLE_FILTER_FIELDS[field]!(r) === value))
  return page(ctx, items)
}

/** The role fields `filters` may name (the spec gives only the syntax: "metadata.name=TestServiceANDspec.cloudType=aws"; which fields are indexed is undocumented). */
const ROLE_FILTER_FIELDS: Record<string, (r: {metadata: {name: string; uid: string}; spec: {scope: string; type: string}}) => string> = {
  'metadata.name': (r) => r.metadata.name,
  'metadata.uid': (r) => r.metadata.uid,
  'spec.scope': (r) => r.spec.scope,
  'spec.type': (r) => r.spec.type,
}

/** `a=xANDb=y` → [[a, x], [b, y]], or why it cannot be read. */
function parseFilters(raw: string | null, fields: Record<string, unknown>): Array<[string, string]> | string {
  if (raw === null || raw === '') return []
  const out: Array<[string, string]> = []
  for (const part of raw.split('AND')) {
    const at = part.indexOf('=')
    const field = part.slice(0, at)
    if (at <= 0 || !Object.hasOwn(fields, field)) return `filters: cannot filter on "${at <= 0 ? part : field}" (indexed fields: ${Object.keys(fields).join(', ')})`
    out.push([field, part.slice(at + 1)])
  }
  return out
}

/**
 * A page of a list the spec pages: limit (at most 50; 0 means 50), offset or continue, and
 * listmeta. `mark` travels in the continue token (its `token` field) for lists that need more
 * than an offset to page consistently.
 */
function page<T>(ctx: RouteContext, all: T[], mark = ''): RouteResult {
  const limitRaw = ctx.query.get('limit')
  const limit = limitRaw === null ? PAGE_MAX : Number(limitRaw)
  if (!Number.isInteger(limit) || limit < 0) return paletteError(400, 'BadRequest', 'limit must be a non-negative integer')
  const size = limit === 0 || limit > PAGE_MAX ? PAGE_MAX : limit
  let offset = 0
  const token = ctx.query.get('continue')
  if (token) {
    const decoded = decodeContinue(token)
    if (decoded === undefined) return paletteError(400, 'BadRequest', 'invalid continue token')
    offset = decoded.offset
  } else if (ctx.query.get('offset') !== null) {
    offset = Number(ctx.query.get('offset'))
    if (!Number.isInteger(offset) || offset < 0) return paletteError(400, 'BadRequest', 'offset must be a non-negative integer')
  }
  const items = all.slice(offset, offset + size)
  const next = offset + items.length
  const more = next < all.length
  return {status: 200, body: {items, listmeta: {continue: more ? encodeContinue(next, all.length, mark) : '', count: all.length, limit: size, offset: next}}}
}

function withUser(ctx: RouteContext, f: (u: UserRecord) => RouteResult): RouteResult {
  const u = ctx.state.user(ctx.params.uid ?? '')
  if (!u) return paletteError(404, 'ResourceNotFound', `user ${ctx.params.uid} not found`)
  if (u.uid !== ctx.caller.uid && !ctx.admin) return paletteError(403, 'OperationForbidden', 'users may only read their own user')
  return f(u)
}

function setState(ctx: RouteContext, method: string, template: string): RouteResult {
  return withKey(ctx, 'apiKey.update', (k) => {
    const invalid = checkBody(ctx, method, template)
    if (invalid) return invalid
    const isActive = (ctx.body as {isActive?: unknown}).isActive
    if (typeof isActive !== 'boolean') return paletteError(400, 'BadRequest', 'isActive (boolean) is required')
    ctx.state.setActive(k.uid, isActive, ctx.now)
    auditKey(ctx, 'update', k, `API key '${k.name}' ${isActive ? 'activated' : 'revoked'}`, `isActive ${isActive}`)
    return {status: 204, mutated: true}
  })
}

/** GET /v1/users: tenant admins only; limit (max 50), offset, continue; listmeta. */
function listUsers(ctx: RouteContext): RouteResult {
  if (!ctx.state.permissions(ctx.caller).has(USER_LIST_PERMISSION)) return paletteError(403, 'OperationForbidden', 'listing users needs a tenant admin role')
  return page(ctx, ctx.state.allUsers().map(userView))
}

// The token is opaque to clients; its shape copies the docs' example ({"offset":50,"count":117,"token":""}).
function encodeContinue(offset: number, count: number, token: string): string {
  return Buffer.from(JSON.stringify({offset, count, token})).toString('base64')
}

function decodeContinue(token: string): {offset: number; token: string} | undefined {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as {offset?: unknown; token?: unknown}
    if (typeof v.offset !== 'number' || !Number.isInteger(v.offset) || v.offset < 0) return undefined
    return {offset: v.offset, token: typeof v.token === 'string' ? v.token : ''}
  } catch {
    return undefined
  }
}

/** Records a committed mutation of key `k` in the audit log, with the caller as its actor. */
function auditKey(ctx: RouteContext, actionType: AuditRecord['actionType'], k: KeyRecord, actionMsg: string, contentMsg: string): void {
  const {uid, email, firstName, lastName} = ctx.caller
  ctx.state.recordAudit({actionType, actor: {uid, email, firstName, lastName}, resource: {kind: AUDIT_API_KEY_KIND, uid: k.uid, name: k.name}, actionMsg, contentMsg}, ctx.now)
}

const AUDIT_ACTION_TYPES = new Set(['create', 'update', 'delete', 'publish', 'deploy', 'activity', 'action'])

/**
 * GET /v1/audits: newest first, within the retention year; startTime (inclusive), endTime
 * (exclusive), userUid (the actor), resourceKind, resourceUid, actionType, projectUid and
 * tenantUid (every entry here is the tenant's, none a project's). Pages of at most 50: the
 * continue token remembers the newest entry of the first page, so entries recorded while a
 * client pages do not shift the later pages (they are seen by the next listing).
 */
function listAudits(ctx: RouteContext): RouteResult {
  if (!ctx.permissions.has(AUDIT_LIST_PERMISSION)) return paletteError(403, ErrorCode.Forbidden, 'listing audit logs needs a tenant admin role')
  const q = ctx.query
  const times: Record<string, number | undefined> = {}
  for (const name of ['startTime', 'endTime']) {
    const raw = q.get(name)
    if (raw === null || raw === '') continue
    const at = Date.parse(raw)
    if (Number.isNaN(at)) return paletteError(400, ErrorCode.BadRequest, `${name} must be an RFC 3339 date-time`)
    times[name] = at
  }
  const actionType = q.get('actionType')
  if (actionType && !AUDIT_ACTION_TYPES.has(actionType)) return paletteError(400, ErrorCode.BadRequest, `actionType must be one of ${[...AUDIT_ACTION_TYPES].join(', ')}`)
  let bound = Number.POSITIVE_INFINITY
  const token = q.get('continue')
  if (token) {
    const decoded = decodeContinue(token)
    if (decoded === undefined || !/^\d+$/.test(decoded.token)) return paletteError(400, ErrorCode.BadRequest, 'invalid continue token')
    bound = Number(decoded.token)
  }
  const want = (param: string, value: string) => {
    const v = q.get(param)
    return v === null || v === '' || v === value
  }
  const all = ctx.state.audits(ctx.now)
  const items = all.filter((a) => {
    const at = Date.parse(a.at)
    return (
      a.seq <= bound &&
      (times.startTime === undefined || at >= times.startTime) &&
      (times.endTime === undefined || at < times.endTime) &&
      want('userUid', a.actor.uid) &&
      want('resourceKind', a.resource.kind) &&
      want('resourceUid', a.resource.uid) &&
      want('actionType', a.actionType) &&
      want('tenantUid', ctx.state.tenant.uid) &&
      want('projectUid', '')
    )
  })
  const mark = String(Number.isFinite(bound) ? bound : (all[0]?.seq ?? 0))
  const result = page(ctx, items, mark)
  if (result.status !== 200) return result
  const body = result.body as {items: AuditRecord[]}
  return {...result, body: {...body, items: body.items.map((a) => auditView(ctx.state, a))}}
}

/** One audit entry, for a caller holding `permission`. */
function withAudit(ctx: RouteContext, permission: string, f: (a: AuditRecord) => RouteResult): RouteResult {
  if (!ctx.permissions.has(permission)) return paletteError(403, ErrorCode.Forbidden, 'audit logs need a tenant admin role')
  const a = ctx.state.audit(ctx.params.uid ?? '', ctx.now)
  if (!a) return paletteError(404, ErrorCode.NotFound, `audit ${ctx.params.uid} not found`)
  return f(a)
}

interface FilterString {
  eq?: string | null
  ne?: string | null
  contains?: string | null
  beginsWith?: string | null
  ignoreCase?: boolean
}

function matches(value: string, f: FilterString | undefined): boolean {
  if (!f) return true
  const fold = (s: string) => (f.ignoreCase === false ? s : s.toLowerCase())
  const v = fold(value)
  if (f.eq != null && v !== fold(f.eq)) return false
  if (f.ne != null && v === fold(f.ne)) return false
  if (f.contains != null && !v.includes(fold(f.contains))) return false
  if (f.beginsWith != null && !v.startsWith(fold(f.beginsWith))) return false
  return true
}

/** POST /v1/users/summary: emailId / name filters and sort; tenant admins only. */
function usersSummary(ctx: RouteContext): RouteResult {
  if (!ctx.state.permissions(ctx.caller).has(USER_LIST_PERMISSION)) return paletteError(403, 'OperationForbidden', 'listing users needs a tenant admin role')
  const invalid = checkBody(ctx, 'POST', '/v1/users/summary')
  if (invalid) return invalid
  const spec = ctx.body as {filter?: {emailId?: FilterString; name?: FilterString}; sort?: Array<{field?: string | null; order?: string}>}
  let users = ctx.state.allUsers().filter((u) => matches(u.email, spec.filter?.emailId) && matches(fullName(u), spec.filter?.name))
  for (const s of [...(spec.sort ?? [])].reverse()) {
    if (!s.field) continue
    const sign = s.order === 'desc' ? -1 : 1
    const keyOf = (u: UserRecord) => (s.field === 'name' ? fullName(u).toLowerCase() : u.createdAt)
    users = [...users].sort((a, b) => sign * keyOf(a).localeCompare(keyOf(b)))
  }
  return {status: 200, body: {items: cut(ctx, users).map(userSummaryView)}}
}

/**
 * --list-limit N: a list the spec gives no paging (no listmeta: apiKeys, users/meta,
 * users/summary) is cut to its first N items, with nothing to say so, as a server that caps
 * every list at the documented page size of 50 would answer.
 */
function cut<T>(ctx: RouteContext, items: T[]): T[] {
  const n = ctx.fidelity.listLimit
  return n === undefined || items.length <= n ? items : items.slice(0, n)
}
