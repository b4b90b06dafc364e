import type {PaletteApi} from '../palette/port.js'
import {ADMIN_ROLES, API_KEY_LIMIT_KIND, API_KEY_PERMISSIONS, DEFAULT_API_KEYS_PER_USER, DOCUMENTED_PAGE_SIZE, grantsKeyAdmin, isPaletteUid, possiblyCut, ZERO_TIME} from '../contract/palette.js'
import {PaletteApiError} from '../palette/errors.js'
import type {ApiKey, UserInfo, UserMeta} from '../palette/types.js'
import {ExitCode} from '../util/exit-codes.js'
import {schemaValidator} from '../util/ajv.js'
import {PaletteKeysError, UsageError} from '../util/errors.js'

export interface LiveUser {
  uid: string
  email: string
  name: string
  /** status.isActive from users/summary; undefined when unknown. */
  active?: boolean
  /** status.lastSignIn (ISO), '' for never; undefined when unknown. */
  lastSignIn?: string
}

/** A live key, normalised from v1ApiKey. Never holds a value: Palette never returns one. */
export interface LiveKey {
  uid: string
  name: string
  userUid: string
  description: string
  /** RFC 3339 with milliseconds, '' when Palette gave none. */
  expiry: string
  isActive: boolean
  annotations: Record<string, string>
  createdAt: string
}

export interface KeyLimit {
  perUser: number
  source: 'tenant' | 'assumed'
  /** Why it was assumed. */
  note?: string
}

/**
 * What is known of a key owner that GET /v1/users/meta did not list. A list may be cut or an
 * answer wrong, so absence alone makes no orphan: `listed` (users/summary lists them),
 * `exists` (GET /v1/users/{uid} answered), `removed` (that GET answered 404: the only
 * evidence an orphan action may rest on), or `unconfirmed` (not asked, or not answered).
 */
export interface OwnerCheck {
  status: 'listed' | 'exists' | 'removed' | 'unconfirmed'
  /** Why it is unconfirmed. */
  note?: string
}

export interface LiveState {
  host: string
  tenant: {uid: string; orgName: string}
  caller: {uid: string; email: string}
  /** undefined when it was not needed, so not asked. */
  callerIsAdmin: boolean | undefined
  /**
   * The apiKey permissions the caller's roles hold over every user's keys (sorted); undefined
   * when not asked (the file declares only the caller's own keys, which anyone may manage).
   */
  callerPermissions?: string[]
  users: LiveUser[]
  keys: LiveKey[]
  /** Palette's cap on API keys per user: the tenant's, or the documented default when it could not be read. */
  keyLimit: KeyLimit
  /** Why users' status (disabled, last sign-in) is unknown, when it is. */
  userStatusNote?: string
  /**
   * Lists whose answer may have been cut (exactly the documented page size, and no paging in
   * the spec). `keys`: GET /v1/apiKeys, which has no other read, so nothing may be created on
   * a key's absence; `users`: what was done about the user lists (the paged GET /v1/users).
   */
  listsCut: {keys: boolean; users?: string}
  /** Owners of live keys that users/meta did not list, by uid (the caller aside). */
  unlistedOwners: Record<string, OwnerCheck>
  /** API calls made to read this state. */
  requests: number
  /**
   * With `applyAs`: the user whose key read the tenant, when the state stands for another
   * user's apply (plan --apply-as). The caller is then that other user, assumed to hold every
   * apiKey permission (apply, reading its own roles, refuses the plan if not).
   */
  readAs?: {uid: string; email: string}
}

/**
 * Reads the live tenant in a constant number of calls, whatever its size: who am I, all
 * users, all keys, and the caller's roles only when one of `declaredEmails` is another
 * user or `actOnOthers` (only then do admin rights matter).
 */
export async function readLiveState(api: PaletteApi, host: string, options: {declaredEmails: string[] | (() => string[]); confirmOwners?: boolean; actOnOthers?: boolean; applyAs?: string}): Promise<LiveState> {
  const [info, metaUsers, keys, summary] = await settled([api.whoAmI(), api.listUsersMeta(), api.listApiKeys(), readUserStatus(api)] as const)
  checkAnswers({info, users: metaUsers, keys})
  let requests = 5
  // A user list of exactly the page size may be cut: the paged GET /v1/users is read too, and what it adds is merged.
  let users = metaUsers
  let usersNote: string | undefined
  if (possiblyCut(metaUsers.length) || possiblyCut(summary.count)) {
    const more = await readPagedUsers(api, metaUsers, summary)
    requests += more.requests
    users = more.users
    usersNote = more.note
    checkAnswers({users, keys})
  }
  const readerUid = info.userUid ?? ''
  // plan --apply-as: the plan is made for that user's apply; this key only reads.
  const applier = options.applyAs === undefined ? undefined : users.find((u) => (u.emailId ?? '').toLowerCase() === options.applyAs!.toLowerCase() && u.uid)
  if (options.applyAs !== undefined && !applier) {
    throw new UsageError(`--apply-as ${JSON.stringify(options.applyAs)}: no user of this tenant has that e-mail address. Name the user whose key runs apply.`, [], 'apply-as-unknown')
  }
  const callerUid = applier ? applier.uid! : readerUid
  const limit = readKeyLimit(api, info.tenantUid ?? '')
  limit.catch(() => undefined) // awaited below; no unhandled rejection if the roles call fails first
  const liveKeys = keys.map(normaliseKey)
  const uidByEmail = new Map(users.map((u) => [(u.emailId ?? '').toLowerCase(), u.uid]))
  // A policy that revokes or deletes keys of people the file does not name (orphanedKeys, undeclaredUsers) needs the rights too.
  // Read once the first answers are in (a function: plan normalises the file's users meanwhile).
  const declared = typeof options.declaredEmails === 'function' ? options.declaredEmails() : options.declaredEmails
  const needAdmin = options.actOnOthers === true || declared.some((e) => uidByEmail.get(e.toLowerCase()) !== callerUid)
  // Rights come from roles only: a key list showing other users' keys proves apiKey.list, not the right to change them.
  let callerIsAdmin: boolean | undefined
  let callerPermissions: string[] | undefined
  // Without the caller's uid its roles cannot be asked for: no rights are assumed (callerProblems says why).
  if (applier) {
    // The reading key must see every key (apiKey.list in its roles): one that sees only its own would plan creates for keys that exist.
    const reader = await callerKeyPermissions(api, readerUid)
    requests += reader.requests
    if (!reader.permissions.includes('apiKey.list')) {
      throw new PaletteKeysError(`plan --apply-as: this key's user's roles hold no apiKey.list${reader.permissions.length > 0 ? ` (they hold ${reader.permissions.join(', ')})` : ''}, so it sees only its own keys and cannot plan another user's apply. Use a key whose roles list every key (Tenant Viewer, or a custom role with apiKey.get and apiKey.list).`, {code: 'apply-as-cannot-list', exitCode: ExitCode.Error})
    }
    // The applier's rights are assumed, not read (this key may not read another user's roles); set only where apply reads them too, so both plans agree.
    if (needAdmin) {
      callerPermissions = [...API_KEY_PERMISSIONS]
      callerIsAdmin = true
    }
  } else if (needAdmin && callerUid !== '') {
    const rights = await callerKeyPermissions(api, callerUid)
    requests += rights.requests
    callerPermissions = rights.permissions
    callerIsAdmin = grantsKeyAdmin(rights.permissions)
  }
  const keyLimit = await limit
  const owners = await checkUnlistedOwners(api, liveKeys, users, summary.listed, callerUid, options.confirmOwners === true)
  requests += owners.requests
  const liveUsers: LiveUser[] = users
    .filter((u) => u.uid && u.emailId)
    .map((u) => {
      const status = summary.byUid.get(u.uid!)
      return {uid: u.uid!, email: u.emailId!, name: u.name ?? '', ...status}
    })
  return {
    host,
    tenant: {uid: info.tenantUid ?? '', orgName: info.orgName ?? ''},
    caller: {uid: callerUid, email: liveUsers.find((u) => u.uid === callerUid)?.email ?? ''},
    callerIsAdmin,
    ...(callerPermissions ? {callerPermissions} : {}),
    users: liveUsers,
    keys: liveKeys,
    keyLimit,
    ...(summary.note ? {userStatusNote: summary.note} : {}),
    unlistedOwners: owners.checks,
    listsCut: {keys: possiblyCut(keys.length), ...(usersNote ? {users: usersNote} : {})},
    requests,
    ...(applier ? {readAs: {uid: readerUid, email: liveUsers.find((u) => u.uid === readerUid)?.email ?? ''}} : {}),
  }
}

/** A refusal of an optional read (the caller may lack the right): anything but a refused credential or no answer at all. */
function refused(error: unknown): error is PaletteApiError {
  return error instanceof PaletteApiError && error.status !== undefined && !error.credentialRefused
}

/**
 * Each user's status.isActive and lastSignIn, from one POST /v1/users/summary (it needs the
 * user.list permission: a refusal, or an answer that is not a list of users, leaves the status
 * unknown, and says why).
 */
async function readUserStatus(api: PaletteApi): Promise<{byUid: Map<string, {active: boolean; lastSignIn: string}>; listed: Set<string>; count: number; note?: string}> {
  const byUid = new Map<string, {active: boolean; lastSignIn: string}>()
  const listed = new Set<string>()
  try {
    const items = await api.listUsersSummary()
    for (const u of items) {
      const uid = u?.metadata?.uid
      if (isPaletteUid(uid)) listed.add(uid)
      if (typeof uid !== 'string' || typeof u.status?.isActive !== 'boolean') continue
      byUid.set(uid, {active: u.status.isActive, lastSignIn: signInOf(u.status.lastSignIn)})
    }
    return byUid.size === 0 && items.length > 0 ? {byUid, listed, count: items.length, note: 'POST /v1/users/summary gave no user status'} : {byUid, listed, count: items.length}
  } catch (error) {
    if (!refused(error)) throw error
    return {byUid, listed, count: 0, note: `POST /v1/users/summary was answered ${error.status}${error.paletteCode ? ` ${error.paletteCode}` : ''}, so owners' status is unknown`}
  }
}

/** status.lastSignIn as ISO, '' for never (Palette's zero time, 0001-01-01, or nothing readable). */
function signInOf(value: unknown): string {
  const t = typeof value === 'string' ? Date.parse(value) : Number.NaN
  return Number.isNaN(t) || t <= Date.parse(ZERO_TIME) ? '' : new Date(t).toISOString()
}

/**
 * GET /v1/users/meta or POST /v1/users/summary answered exactly the documented page size: it
 * may be cut. GET /v1/users is the one user list the spec pages, so every page of it is read,
 * and the users (with their status) it adds are merged in. It needs user.list: when it is
 * refused, the lists stay as they are, and only the safe consequences follow (a declared user
 * not seen is blocked; an owner not seen is no orphan without GET /v1/users/{uid}).
 */
async function readPagedUsers(api: PaletteApi, meta: UserMeta[], summary: {byUid: Map<string, {active: boolean; lastSignIn: string}>; listed: Set<string>}): Promise<{users: UserMeta[]; requests: number; note: string}> {
  let paged
  try {
    paged = await api.listUsers()
  } catch (error) {
    if (!refused(error)) throw error
    return {users: meta, requests: 1, note: `a user list answered exactly ${DOCUMENTED_PAGE_SIZE} items, so may be cut, and GET /v1/users (the paged one) was answered ${error.status}: users past the ${DOCUMENTED_PAGE_SIZE}th may be unseen (their keys are left alone)`}
  }
  const known = new Set(meta.flatMap((u) => (u.uid ? [u.uid] : [])))
  const users = [...meta]
  for (const u of paged) {
    const uid = u?.metadata?.uid
    if (!isPaletteUid(uid)) continue
    summary.listed.add(uid)
    if (!summary.byUid.has(uid) && typeof u.status?.isActive === 'boolean') {
      summary.byUid.set(uid, {active: u.status.isActive, lastSignIn: signInOf(u.status.lastSignIn)})
    }
    if (known.has(uid) || typeof u.spec?.emailId !== 'string') continue
    known.add(uid)
    users.push({uid, emailId: u.spec.emailId, name: u.metadata?.name ?? ''})
  }
  return {users, requests: Math.max(1, Math.ceil(paged.length / DOCUMENTED_PAGE_SIZE)), note: `a user list answered exactly ${DOCUMENTED_PAGE_SIZE} items, so may be cut: GET /v1/users (paged) was read too, ${users.length - meta.length} more user${users.length - meta.length === 1 ? '' : 's'} found`}
}

/**
 * Owners of keys whom users/meta does not list. Absence from one list is no evidence (it may be
 * cut, or wrong): an owner users/meta lists without an e-mail, or users/summary lists, is not
 * an orphan. When an orphan action may follow (policy.orphanedKeys revoke or delete), each
 * remaining owner is asked for with GET /v1/users/{uid}: only a 404 says removed; an answer
 * says the user exists; anything else leaves it unconfirmed, and nothing is done to their keys.
 */
async function checkUnlistedOwners(api: PaletteApi, keys: LiveKey[], users: UserMeta[], summarised: Set<string>, callerUid: string, confirm: boolean): Promise<{checks: Record<string, OwnerCheck>; requests: number}> {
  const inMeta = new Set(users.flatMap((u) => (u.uid ? [u.uid] : [])))
  const checks: Record<string, OwnerCheck> = {}
  const ask: string[] = []
  for (const k of keys) {
    const owner = k.userUid
    if (owner === callerUid || inMeta.has(owner) || Object.hasOwn(checks, owner)) continue
    if (summarised.has(owner)) checks[owner] = {status: 'listed'}
    else {
      checks[owner] = {status: 'unconfirmed', note: 'not asked: policy.orphanedKeys is report'}
      ask.push(owner)
    }
  }
  if (!confirm) return {checks, requests: 0}
  for (const uid of ask.sort()) {
    try {
      const user = await api.getUser(uid)
      checks[uid] = user?.metadata?.uid === uid ? {status: 'exists'} : {status: 'unconfirmed', note: `GET /v1/users/${uid} answered a user of another uid`}
    } catch (error) {
      if (!(error instanceof PaletteApiError) || error.credentialRefused) throw error
      checks[uid] = error.status === 404 ? {status: 'removed'} : {status: 'unconfirmed', note: `GET /v1/users/${uid} was answered ${error.status ?? error.paletteCode ?? 'with no answer'}`}
    }
  }
  return {checks, requests: ask.length}
}

/**
 * The apiKey permissions the caller holds over every user's keys: a built-in admin role by
 * name holds them all; otherwise the permissions of the caller's roles, from the role list
 * (a custom role may hold some or all; a viewer role only get and list). Reading one's own
 * roles, or the role list, may be refused (undocumented): a refusal means "none".
 */
async function callerKeyPermissions(api: PaletteApi, callerUid: string): Promise<{permissions: string[]; requests: number}> {
  let held
  try {
    const r = await api.getUserRoles(callerUid)
    held = [...(r.roles ?? []), ...(r.inheritedRoles ?? [])]
  } catch (error) {
    if (refused(error) && error.status === 403) return {permissions: [], requests: 1}
    throw error
  }
  if (held.some((role) => ADMIN_ROLES.includes(role.name ?? ''))) return {permissions: [...API_KEY_PERMISSIONS], requests: 1}
  if (held.length === 0) return {permissions: [], requests: 1}
  try {
    const roles = await api.listRoles()
    const mine = new Set(held.flatMap((r) => [r.uid, r.name].filter((x): x is string => typeof x === 'string' && x !== '')))
    const permissions = roles.filter((r) => mine.has(r.metadata?.uid ?? '\0') || mine.has(r.metadata?.name ?? '\0')).flatMap((r) => (Array.isArray(r.spec?.permissions) ? r.spec.permissions : []))
    const keyPermissions = new Set(permissions.filter((p): p is string => typeof p === 'string' && API_KEY_PERMISSIONS.includes(p)))
    return {permissions: [...keyPermissions].sort(), requests: 2}
  } catch (error) {
    if (refused(error) && error.status === 403) return {permissions: [], requests: 2}
    throw error
  }
}

/**
 * The tenant's API key cap (kind apiKey). Reading it may be refused (a non-admin caller, an
 * older Palette): then the documented default of 20 is assumed, and the plan says so. A 5xx
 * is not a refusal: assuming 20 there could plan past a lower cap.
 */
async function readKeyLimit(api: PaletteApi, tenantUid: string): Promise<KeyLimit> {
  const assumed = (why: string): KeyLimit => ({perUser: DEFAULT_API_KEYS_PER_USER, source: 'assumed', note: `${why}; Palette's documented default of ${DEFAULT_API_KEYS_PER_USER} is assumed`})
  if (tenantUid === '') return assumed('the tenant uid is unknown, so its resource limits cannot be read')
  try {
    const answer = await api.getResourceLimits(tenantUid)
    const entry = Array.isArray(answer?.resources) ? answer.resources.find((r) => r?.kind === API_KEY_LIMIT_KIND) : undefined
    if (!entry) return assumed('the tenant\'s resource limits name no apiKey limit')
    if (typeof entry.limit !== 'number' || !Number.isInteger(entry.limit) || entry.limit < 1) return assumed('the tenant\'s apiKey limit is not a positive whole number')
    return {perUser: entry.limit, source: 'tenant'}
  } catch (error) {
    // Refused (4xx: not allowed, not there): the default. A server error is no answer at all: the plan stops, as for the other reads.
    if (!refused(error) || error.status! >= 500) throw error
    return assumed(`GET /v1/tenants/{uid}/resourceLimits was answered ${error.status}${error.paletteCode ? ` ${error.paletteCode}` : ''}`)
  }
}

/**
 * Like Promise.all, but waits for every call and, when several fail, throws a refused
 * credential first: a server that answers one with 404 would otherwise show as "not found".
 */
async function settled<T extends readonly unknown[]>(calls: {[K in keyof T]: Promise<T[K]>}): Promise<T> {
  const results = await Promise.allSettled(calls)
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
  if (failures.length > 0) throw failures.find((e) => (e as {credentialRefused?: boolean}).credentialRefused) ?? failures[0]
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T
}

/** The live keys alone (GET /v1/apiKeys, checked as for a plan): one request, for apply's lease. */
export async function readLiveKeys(api: PaletteApi): Promise<LiveKey[]> {
  const keys = await api.listApiKeys()
  checkAnswers({keys})
  return keys.map(normaliseKey)
}

function normaliseKey(k: ApiKey): LiveKey {
  // The response's own object, not a copy: nothing else holds it (10k copies were a GC cost).
  const annotations = k.metadata?.annotations ?? {}
  const expiry = k.spec?.expiry ? isoMs(k.spec.expiry) : ''
  return {
    uid: k.metadata!.uid!,
    name: k.metadata!.name!,
    userUid: k.spec?.user?.uid ?? annotations.ownerUid ?? '',
    description: annotations.description ?? '',
    expiry,
    isActive: k.status?.isActive ?? false,
    annotations,
    createdAt: k.metadata?.creationTimestamp ?? '',
  }
}

const CANONICAL_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

/** RFC 3339 → the same instant with milliseconds, so equal times compare equal as strings. */
function isoMs(s: string): string {
  if (CANONICAL_TIME.test(s)) return s // Palette's own form: nothing to do (the common case)
  const t = Date.parse(s)
  return Number.isNaN(t) ? s : new Date(t).toISOString()
}

const SOURCES: Record<string, string> = {info: 'GET /v1/users/info', users: 'GET /v1/users/meta items', keys: 'GET /v1/apiKeys items'}
const MAX_SHOWN = 8

/**
 * Palette's answers are data, and a plan built on a malformed one could delete or duplicate
 * keys: a null item, a name that is not a string, a key without an owner, two keys (or users)
 * with one uid, two users with one e-mail. Any of these stops the plan, saying where in which
 * answer (never the values, which anybody may have set).
 */
function checkAnswers(answers: {info?: UserInfo; users?: UserMeta[]; keys: ApiKey[]}): void {
  const {users = [], keys} = answers
  const problems: string[] = []
  const validate = schemaValidator('schemas/palette-answers.schema.json')
  if (!validate({info: {}, users: [], ...answers})) {
    for (const e of validate.errors ?? []) problems.push(`${where(e.instancePath)}: ${e.message ?? 'is invalid'}`)
  } else {
    const keyUids = new Map<string, number>()
    keys.forEach((k, i) => {
      const uid = k.metadata!.uid!
      const first = keyUids.get(uid)
      if (first !== undefined) problems.push(`${SOURCES.keys}[${i}]: the same uid as items[${first}]`)
      else keyUids.set(uid, i)
      const owner = k.spec?.user?.uid || k.metadata?.annotations?.ownerUid
      if (!owner) problems.push(`${SOURCES.keys}[${i}]: no owner (neither spec.user.uid nor the ownerUid annotation)`)
      else if (!isPaletteUid(owner)) problems.push(`${SOURCES.keys}[${i}]: its owner (the ownerUid annotation) is not a Palette uid`)
    })
    const userUids = new Map<string, number>()
    const emails = new Map<string, number>()
    users.forEach((u, i) => {
      if (u.uid) {
        const first = userUids.get(u.uid)
        if (first !== undefined) problems.push(`${SOURCES.users}[${i}]: the same uid as items[${first}]`)
        else userUids.set(u.uid, i)
      }
      if (u.emailId) {
        const first = emails.get(u.emailId.toLowerCase())
        if (first !== undefined) problems.push(`${SOURCES.users}[${i}]: the same e-mail as items[${first}]`)
        else emails.set(u.emailId.toLowerCase(), i)
      }
    })
  }
  if (problems.length === 0) return
  const shown = problems.slice(0, MAX_SHOWN)
  throw new PaletteKeysError(`Palette's answers cannot be planned from (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${shown.join('; ')}${problems.length > MAX_SHOWN ? `; and ${problems.length - MAX_SHOWN} more` : ''}. Nothing was changed.`, {
    code: 'invalid-answer',
    exitCode: ExitCode.Error,
    hints: ['Check that --host (PALETTE_HOST) is a Palette API endpoint; if it is, report the answer to Spectro Cloud support.'],
  })
}

/** `/keys/3/metadata/name` → `GET /v1/apiKeys items[3].metadata.name` */
function where(pointer: string): string {
  const [, top = '', index, ...segments] = pointer.split('/')
  // An annotation's name is anybody's text: the path stops before it.
  const cut = segments.indexOf('annotations')
  const rest = cut >= 0 && segments.length > cut + 1 ? [...segments.slice(0, cut + 1), '(one value)'] : segments
  const source = SOURCES[top] ?? top
  if (top === 'info') return [source, index, ...rest].filter(Boolean).join('.')
  return `${source}${index === undefined ? '' : `[${index}]`}${rest.length > 0 ? `.${rest.join('.')}` : ''}`
}
