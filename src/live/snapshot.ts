import type {PaletteApi} from '../palette/port.js'
import {ADMIN_ROLES} from '../palette/roles.js'
import type {ApiKey} from '../palette/types.js'

export interface LiveUser {
  uid: string
  email: string
  name: string
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

export interface LiveState {
  host: string
  tenant: {uid: string; orgName: string}
  caller: {uid: string; email: string}
  /** undefined when it was not needed, so not asked. */
  callerIsAdmin: boolean | undefined
  users: LiveUser[]
  keys: LiveKey[]
  /** API calls made to read this state. */
  requests: number
}

/**
 * Reads the live tenant in a constant number of calls, whatever its size: who am I, all
 * users, all keys, and the caller's roles only when one of `declaredEmails` is another
 * user (only then do admin rights matter). A key list holding other users' keys also
 * proves admin rights.
 */
export async function readLiveState(api: PaletteApi, host: string, options: {declaredEmails: string[]}): Promise<LiveState> {
  const [info, users, keys] = await Promise.all([api.whoAmI(), api.listUsersMeta(), api.listApiKeys()])
  let requests = 3
  const callerUid = info.userUid ?? ''
  const liveKeys = keys.map(normaliseKey).filter((k) => k.uid !== '')
  const uidByEmail = new Map(users.map((u) => [(u.emailId ?? '').toLowerCase(), u.uid]))
  const needAdmin = options.declaredEmails.some((e) => uidByEmail.get(e.toLowerCase()) !== callerUid)
  let callerIsAdmin: boolean | undefined = liveKeys.some((k) => k.userUid !== callerUid) ? true : undefined
  if (callerIsAdmin === undefined && needAdmin) {
    requests++
    callerIsAdmin = await api.getUserRoles(callerUid).then(
      (r) => [...(r.roles ?? []), ...(r.inheritedRoles ?? [])].some((role) => ADMIN_ROLES.includes(role.name ?? '')),
      // Whether a non-admin may read their own roles is undocumented: a refusal means "not admin".
      (error: {status?: number}) => {
        if (error.status === 403) return false
        throw error
      },
    )
  }
  const liveUsers = users
    .filter((u) => u.uid && u.emailId)
    .map((u) => ({uid: u.uid!, email: u.emailId!, name: u.name ?? ''}))
  return {
    host,
    tenant: {uid: info.tenantUid ?? '', orgName: info.orgName ?? ''},
    caller: {uid: callerUid, email: liveUsers.find((u) => u.uid === callerUid)?.email ?? ''},
    callerIsAdmin,
    users: liveUsers,
    keys: liveKeys,
    requests,
  }
}

function normaliseKey(k: ApiKey): LiveKey {
  // The response's own object, not a copy: nothing else holds it (10k copies were a GC cost).
  const annotations = k.metadata?.annotations ?? {}
  const expiry = k.spec?.expiry ? isoMs(k.spec.expiry) : ''
  return {
    uid: k.metadata?.uid ?? '',
    name: k.metadata?.name ?? '',
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
