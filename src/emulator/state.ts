import {createHash, randomBytes} from 'node:crypto'
import {ADMIN_ROLES, API_KEY_PERMISSIONS, AUDIT_PERMISSIONS, AUDIT_RETENTION_DAYS, clientAnnotations as settable, DEFAULT_API_KEYS_PER_USER, grantsKeyAdmin, KEY_PERMISSIONS_ANNOTATION, KEY_VIEWER_PERMISSIONS, KEY_VIEWER_ROLES, USER_LIST_PERMISSION, ZERO_TIME} from '../contract/palette.js'
import type {Seed} from './seed.js'

/**
 * The emulated tenant: users, roles and API keys. Key values are never stored, only
 * their SHA-256, so a persisted state file holds no secret.
 */

const STATE_FORMAT = 'palette-keys-emulator-state'

export interface TenantRecord {
  uid: string
  orgName: string
}

export interface UserRecord {
  uid: string
  email: string
  firstName: string
  lastName: string
  roles: string[]
  createdAt: string
  /** Removed (say, through SSO): absent from every user endpoint, while their keys remain and authenticate. */
  removed?: boolean
  /** false: the account is disabled (status.isActive). Default true. */
  active?: boolean
  /** status.lastSignIn; ZERO_TIME when never. */
  lastSignIn?: string
}

/** The tenant's resource limits that the emulator enforces (GET/PATCH /v1/tenants/{uid}/resourceLimits). */
export interface LimitsRecord {
  /** API keys per user; 0: none enforced (and none served). */
  apiKeysPerUser: number
}

export interface KeyRecord {
  uid: string
  name: string
  userUid: string
  expiry: string
  isActive: boolean
  /** Client-settable annotations, description included; server ones are added on output. */
  annotations: Record<string, string>
  /**
   * Set by an update under `--update-annotations replace`: the whole map as the client sent
   * it, served as is (server annotations the client left out are gone).
   */
  exactAnnotations?: Record<string, string>
  labels: Record<string, string>
  createdAt: string
  modifiedAt: string
  valueHash: string
}

/**
 * One entry of the audit log (v1Audit): what was done (actionType), by whom (the caller whose
 * key made the request) and to what (kind, uid and name of the resource), at Palette's time.
 * Never a key value: messages name keys by name and uid only.
 */
export interface AuditRecord {
  uid: string
  /** Order of recording (timestamps may tie). */
  seq: number
  at: string
  actionType: 'create' | 'update' | 'delete'
  actor: {uid: string; email: string; firstName: string; lastName: string}
  resource: {kind: string; uid: string; name: string}
  actionMsg: string
  contentMsg: string
  userMsg?: string
  modifiedAt: string
}

export interface StateSnapshot {
  format: typeof STATE_FORMAT
  version: 1
  tenant: TenantRecord
  users: UserRecord[]
  keys: KeyRecord[]
  /** Custom roles: name → permissions (built-in admin roles hold every apiKey permission). */
  roles?: Record<string, string[]>
  limits?: LimitsRecord
  /** The audit log, oldest first. */
  audits?: AuditRecord[]
}

export type AuthResult = {ok: true; user: UserRecord; key: KeyRecord} | {ok: false; reason: 'missing' | 'unknown' | 'revoked' | 'expired'}

/** 24 lowercase hex characters, like Palette uids; derived (stable) when `from` is given. */
export function newUid(from?: string): string {
  return from === undefined ? randomBytes(12).toString('hex') : createHash('sha256').update(from).digest('hex').slice(0, 24)
}

export function hashValue(value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

/** RFC 3339 UTC with milliseconds, as Palette prints timestamps. */
export function timestamp(d: Date): string {
  return d.toISOString()
}

export class EmulatorState {
  readonly tenant: TenantRecord
  private readonly users = new Map<string, UserRecord>()
  private readonly keys = new Map<string, KeyRecord>()
  private readonly byHash = new Map<string, string>()
  readonly roles: Record<string, string[]>
  limits: LimitsRecord
  private readonly auditLog: AuditRecord[]
  private readonly auditUids: Set<string>

  constructor(snapshot: StateSnapshot) {
    this.tenant = snapshot.tenant
    this.roles = snapshot.roles ?? {}
    this.auditLog = snapshot.audits ?? []
    this.auditUids = new Set(this.auditLog.map((a) => a.uid))
    this.limits = snapshot.limits ?? {apiKeysPerUser: DEFAULT_API_KEYS_PER_USER}
    for (const u of snapshot.users) this.users.set(u.uid, u)
    for (const k of snapshot.keys) {
      this.keys.set(k.uid, k)
      this.byHash.set(k.valueHash, k.uid)
    }
  }

  static fromSeed(seed: Seed, now: Date): EmulatorState {
    const orgName = seed.tenant?.orgName ?? 'demo'
    const tenant = {uid: seed.tenant?.uid ?? newUid(`tenant:${orgName}`), orgName}
    const created = timestamp(now)
    const defaultExpiry = timestamp(new Date(now.getTime() + 365 * 24 * 3600 * 1000))
    const users: UserRecord[] = []
    const keys: KeyRecord[] = []
    for (const u of seed.users) {
      const uid = u.uid ?? newUid(`user:${tenant.uid}:${u.email.toLowerCase()}`)
      users.push({
        uid,
        email: u.email,
        firstName: u.firstName ?? '',
        lastName: u.lastName ?? '',
        roles: u.roles ?? [],
        createdAt: created,
        ...(u.removed ? {removed: true} : {}),
        ...(u.active === false ? {active: false} : {}),
        ...(u.lastSignIn === undefined ? {} : {lastSignIn: timestamp(new Date(u.lastSignIn))}),
      })
      u.apiKeys?.forEach((k, i) => {
        keys.push({
          uid: newUid(`key:${uid}:${i}:${k.name}`),
          name: k.name,
          userUid: uid,
          expiry: k.expiry === undefined ? defaultExpiry : timestamp(new Date(k.expiry)),
          isActive: k.active ?? true,
          annotations: {...k.annotations, description: k.description ?? k.annotations?.description ?? ''},
          labels: {},
          createdAt: created,
          modifiedAt: created,
          valueHash: hashValue(k.value),
        })
      })
    }
    const limits = {apiKeysPerUser: seed.limits?.apiKeysPerUser ?? DEFAULT_API_KEYS_PER_USER}
    return new EmulatorState({format: STATE_FORMAT, version: 1, tenant, users, keys, roles: seed.roles ?? {}, limits})
  }

  /** Reads a snapshot written by `snapshot()`; throws a plain Error naming what is wrong. */
  static fromJson(text: string): EmulatorState {
    const data = JSON.parse(text) as Partial<StateSnapshot>
    if (data.format !== STATE_FORMAT || data.version !== 1 || !data.tenant || !Array.isArray(data.users) || !Array.isArray(data.keys)) {
      throw new Error(`not a palette-keys emulator state file (expected format "${STATE_FORMAT}", version 1)`)
    }
    return new EmulatorState(data as StateSnapshot)
  }

  snapshot(): StateSnapshot {
    return {format: STATE_FORMAT, version: 1, tenant: this.tenant, users: [...this.users.values()], keys: [...this.keys.values()], roles: this.roles, limits: this.limits, audits: this.auditLog}
  }

  authenticate(value: string | undefined, now: Date): AuthResult {
    if (!value) return {ok: false, reason: 'missing'}
    const uid = this.byHash.get(hashValue(value))
    const key = uid === undefined ? undefined : this.keys.get(uid)
    const user = key && this.users.get(key.userUid)
    if (!key || !user) return {ok: false, reason: 'unknown'}
    if (!key.isActive) return {ok: false, reason: 'revoked'}
    if (Date.parse(key.expiry) <= now.getTime()) return {ok: false, reason: 'expired'}
    return {ok: true, user, key}
  }

  /** What the user's roles allow: built-in admin roles everything this emulator serves; custom roles what the seed gives them. */
  permissions(user: UserRecord): Set<string> {
    const held = new Set<string>()
    for (const r of user.roles) {
      if (ADMIN_ROLES.includes(r)) for (const p of [...API_KEY_PERMISSIONS, USER_LIST_PERMISSION, ...AUDIT_PERMISSIONS]) held.add(p)
      if (KEY_VIEWER_ROLES.includes(r)) for (const p of [...KEY_VIEWER_PERMISSIONS, USER_LIST_PERMISSION]) held.add(p)
      for (const p of this.roles[r] ?? []) held.add(p)
    }
    return held
  }

  isAdmin(user: UserRecord): boolean {
    return grantsKeyAdmin(this.permissions(user))
  }

  /** A user of the tenant (not a removed one). */
  user(uid: string): UserRecord | undefined {
    const u = this.users.get(uid)
    return u?.removed ? undefined : u
  }

  /** The tenant's users, removed ones left out (as every user endpoint leaves them out). */
  allUsers(): UserRecord[] {
    return [...this.users.values()].filter((u) => !u.removed)
  }

  /** Every role name in use or defined: built-in ones and custom ones. */
  roleNames(): string[] {
    const names = new Set<string>([...ADMIN_ROLES, ...KEY_VIEWER_ROLES, ...Object.keys(this.roles)])
    for (const u of this.users.values()) for (const r of u.roles) names.add(r)
    return [...names].sort()
  }

  /** How many keys the user holds, whatever their state (revoked and expired ones count: UNCERTAIN, NOTES.md). */
  keyCount(userUid: string): number {
    let n = 0
    for (const k of this.keys.values()) if (k.userUid === userUid) n++
    return n
  }

  key(uid: string): KeyRecord | undefined {
    return this.keys.get(uid)
  }

  allKeys(): KeyRecord[] {
    return [...this.keys.values()]
  }

  createKey(input: {name: string; userUid: string; expiry: string; annotations: Record<string, string>; labels: Record<string, string>}, now: Date): {record: KeyRecord; value: string} {
    let value: string
    do value = randomBytes(32).toString('base64url')
    while (this.byHash.has(hashValue(value)))
    const at = timestamp(now)
    const record: KeyRecord = {
      uid: this.freshUid(),
      name: input.name,
      userUid: input.userUid,
      expiry: timestamp(new Date(input.expiry)),
      isActive: true,
      annotations: clientAnnotations(input.annotations),
      labels: input.labels,
      createdAt: at,
      modifiedAt: at,
      valueHash: hashValue(value),
    }
    this.keys.set(record.uid, record)
    this.byHash.set(record.valueHash, record.uid)
    return {record, value}
  }

  /** `exact`: the server replaces the whole annotation map with what was sent (--update-annotations replace). */
  updateKey(uid: string, change: {name?: string; annotations?: Record<string, string>; expiry?: string; exact?: boolean}, now: Date): void {
    const k = this.mustKey(uid)
    if (change.name !== undefined) k.name = change.name
    if (change.annotations !== undefined) {
      k.annotations = clientAnnotations(change.annotations)
      if (change.exact) k.exactAnnotations = {...change.annotations}
      else delete k.exactAnnotations
    }
    if (change.expiry !== undefined) k.expiry = timestamp(new Date(change.expiry))
    k.modifiedAt = timestamp(now)
  }

  setActive(uid: string, isActive: boolean, now: Date): void {
    const k = this.mustKey(uid)
    k.isActive = isActive
    k.modifiedAt = timestamp(now)
  }

  deleteKey(uid: string): void {
    const k = this.mustKey(uid)
    this.keys.delete(uid)
    this.byHash.delete(k.valueHash)
  }

  /** Records one audit entry (the routes call this after each mutation they commit). */
  recordAudit(entry: Omit<AuditRecord, 'uid' | 'seq' | 'at' | 'modifiedAt'>, now: Date): AuditRecord {
    const at = timestamp(now)
    const record: AuditRecord = {...entry, uid: this.freshUid(), seq: (this.auditLog.at(-1)?.seq ?? 0) + 1, at, modifiedAt: at}
    this.auditLog.push(record)
    this.auditUids.add(record.uid)
    return record
  }

  /** The audit log within its retention (one year back from `now`), newest first. */
  audits(now: Date): AuditRecord[] {
    const oldest = now.getTime() - AUDIT_RETENTION_DAYS * 24 * 3600 * 1000
    return this.auditLog.filter((a) => Date.parse(a.at) >= oldest).reverse()
  }

  audit(uid: string, now: Date): AuditRecord | undefined {
    return this.audits(now).find((a) => a.uid === uid)
  }

  setAuditUserMsg(uid: string, userMsg: string, now: Date): void {
    const a = this.auditLog.find((x) => x.uid === uid)
    if (!a) throw new Error(`no audit ${uid}`)
    a.userMsg = userMsg
    a.modifiedAt = timestamp(now)
  }

  private mustKey(uid: string): KeyRecord {
    const k = this.keys.get(uid)
    if (!k) throw new Error(`no key ${uid}`)
    return k
  }

  private freshUid(): string {
    let uid: string
    do uid = newUid()
    while (this.keys.has(uid) || this.users.has(uid) || this.auditUids.has(uid))
    return uid
  }
}

/** What a client may set: everything but the server's own annotations; description always present. */
function clientAnnotations(sent: Record<string, string>): Record<string, string> {
  const out = settable(sent)
  out.description ??= ''
  return out
}

/** v1ApiKey as Palette returns it: server annotations added, no value (spec.key) ever. */
export function apiKeyView(state: EmulatorState, k: KeyRecord): object {
  const owner = state.user(k.userUid)
  return {
    metadata: {
      annotations: k.exactAnnotations ?? {
        ...k.annotations,
        ownerUid: k.userUid,
        permissions: KEY_PERMISSIONS_ANNOTATION,
        scope: 'tenant',
        scopeVisibility: '20',
        tenantUid: state.tenant.uid,
      },
      creationTimestamp: k.createdAt,
      deletionTimestamp: ZERO_TIME,
      ...(Object.keys(k.labels).length > 0 ? {labels: k.labels} : {}),
      lastModifiedTimestamp: k.modifiedAt,
      name: k.name,
      uid: k.uid,
    },
    spec: {expiry: k.expiry, user: {firstName: owner?.firstName ?? '', lastName: owner?.lastName ?? '', uid: k.userUid}},
    status: {isActive: k.isActive},
  }
}

export function fullName(u: UserRecord): string {
  return `${u.firstName} ${u.lastName}`.trim() || u.email
}

export function roleUid(name: string): string {
  return newUid(`role:${name}`)
}

/** v1User */
export function userView(u: UserRecord): object {
  return {
    metadata: {
      annotations: {},
      creationTimestamp: u.createdAt,
      deletionTimestamp: ZERO_TIME,
      lastModifiedTimestamp: u.createdAt,
      name: fullName(u),
      uid: u.uid,
    },
    spec: {emailId: u.email, firstName: u.firstName, lastName: u.lastName, roles: u.roles.map(roleUid)},
    status: {activationLink: '', isActive: u.active !== false, isPasswordResetting: false, lastSignIn: u.lastSignIn ?? ZERO_TIME},
  }
}

/** v1UserSummary */
export function userSummaryView(u: UserRecord): object {
  const {metadata, status} = userView(u) as {metadata: object; status: object}
  return {
    metadata,
    spec: {
      emailId: u.email,
      firstName: u.firstName,
      lastName: u.lastName,
      projectsCount: 0,
      roles: u.roles.map((name) => ({name, uid: roleUid(name)})),
      teams: [],
    },
    status,
  }
}

/** v1Audit */
export function auditView(state: EmulatorState, a: AuditRecord): object {
  return {
    metadata: {creationTimestamp: a.at, deletionTimestamp: ZERO_TIME, lastModifiedTimestamp: a.modifiedAt, name: a.actionMsg, uid: a.uid},
    spec: {
      actionMsg: a.actionMsg,
      actionType: a.actionType,
      actor: {
        actorType: 'user',
        user: {emailId: a.actor.email, firstName: a.actor.firstName, lastName: a.actor.lastName, org: state.tenant.orgName, uid: a.actor.uid},
      },
      contentMsg: a.contentMsg,
      resource: {kind: a.resource.kind, label: 'API Key', name: a.resource.name, uid: a.resource.uid},
      userMsg: a.userMsg ?? '',
    },
  }
}
