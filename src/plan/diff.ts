import {hash} from 'node:crypto'
import {cmp, type DesiredKey, type DesiredState, type DesiredUser, declaredEmails} from '../config/desired-state.js'
import {exactDuration, formatDuration} from '../config/duration.js'
import {API_KEY_PERMISSIONS, DOCUMENTED_PAGE_SIZE, isPaletteUid} from '../contract/palette.js'
import {deliveredIds, deliveryId, deliveryLabel} from '../deliver/targets.js'
import {generationOfSealedFileName, type HeaderReading, safeName, uidOfSealedFileName} from '../seal/sealed-file.js'
import type {LiveKey, LiveState, LiveUser} from '../live/snapshot.js'
import {brakes, type DeclaredScope, rotationsOnlyBrake} from './brakes.js'
import {keyFingerprint, liveFingerprint} from './fingerprint.js'
import {
  ACTION_KINDS,
  type Action,
  type FieldChange,
  type Finding,
  type KeyRef,
  type NewKey,
  type Plan,
  type StaleSealedFile,
  PLAN_FORMAT,
  PLAN_FORMAT_VERSION,
  type PlanError,
  type RotateCause,
  type Summary,
  isDestructive,
  touchedKey,
  touchesUser,
} from './model.js'
import {keyLimitProblem, usersOverLimit} from './key-limit.js'
import {type KeyReader, ownersOfKeys, undeclaredUsers} from './owner-findings.js'
import {permissionProblems} from './permissions.js'
import {pushTo} from '../util/group.js'
import {labels, recipientFinding, type SealedTo, sealedToOf} from './recipients.js'
import {CUSTODY, CUSTODY_FOLDER, DELIVERED, GENERATION, intendedName, ownershipOf, predecessorOf, REPLACES, RETIRING, retiredAtOf, retiredName, supersededUids, transientName} from './ownership.js'

export interface DiffFlags {
  /** --force: lift the forceable brakes. */
  force: boolean
  toolVersion: string
  /** The seal folder's sealed files, relative to it and '/'-separated (seal-dir.ts sealFolderFiles): an input like the live keys. */
  sealFiles?: string[]
  /**
   * What each sealed file's header records of its recipients (seal-dir.ts readSealedHeaders), by
   * the same relative name: data, read without an identity. Files not in it are not judged.
   */
  sealHeaders?: Record<string, HeaderReading>
  /** --replace USER/NAME: declared keys to rotate once, whatever their expiry (checked by the command against the file). */
  replace?: string[]
  /** --rotations-only: refuse any change a person should review (brakes.ts needsReview). */
  rotationsOnly?: boolean
}

const DAY = 86_400_000

/**
 * desired + live → plan. Pure: no I/O, the clock is an argument, and the same inputs give
 * a byte-identical plan (every list is sorted by code point).
 */
export function diff(desired: DesiredState, live: LiveState, flags: DiffFlags, now: Date): Plan {
  const sealFiles = [...(flags.sealFiles ?? [])].sort(cmp)
  const replace = [...new Set(flags.replace ?? [])].sort(cmp)
  const ctx = new DiffContext(desired, live, now, sealFiles, replace, flags.sealHeaders ?? {})
  const errors = ctx.preflight()
  if (errors.length === 0) {
    for (const user of desired.users) ctx.matchUser(user)
    for (const user of desired.users) ctx.leftovers(user)
    ctx.ownerFindings()
    // Before the names are settled: the cap may add deletes (expired retired keys) that free a name. Renames
    // and transient names move no key count, so the check does not depend on them.
    const keyLimit = ctx.keyLimitProblems()
    ctx.settleNames()
    errors.push(...ctx.callerProblems(), ...permissionProblems(ctx.planned, ctx.held, live.caller), ...ctx.sealProblems(), ...keyLimit)
  }
  const actions = errors.length > 0 ? [] : ctx.sortedActions()
  const findings = errors.length > 0 ? [] : ctx.sortedFindings()
  const blocked = errors.length > 0 ? [] : ctx.sortedBlocked()
  const items = errors.length > 0 ? [] : brakes(actions, live, desired.policy.maxChangeRatio, now, ctx.declaredScope())
  const unreviewed = flags.rotationsOnly ? rotationsOnlyBrake(actions) : undefined
  if (unreviewed) items.push(unreviewed)
  const stale = errors.length > 0 ? [] : ctx.staleSealedFiles()
  const summary = summarise(actions)
  let fingerprint: string | undefined
  return {
    format: PLAN_FORMAT,
    formatVersion: PLAN_FORMAT_VERSION,
    toolVersion: flags.toolVersion,
    createdAt: now.toISOString(),
    host: live.host,
    tenant: live.tenant,
    caller: {...live.caller, tenantAdmin: live.callerIsAdmin ?? null},
    desired: {file: desired.file, sha256: desired.sha256},
    live: {
      users: live.users.length,
      keys: live.keys.length,
      managedKeys: live.keys.filter((k) => ownershipOf(k.annotations) !== 'unmanaged').length,
      requests: live.requests,
      // Computed when first read (a saved plan, --json, apply's lease): a plan that is only printed
      // never needs it, and it is a SHA-256 per key (0.2 s of a 100,000-key plan). Enumerable, so
      // JSON and spreads see it like any field; the live keys it hashes are never changed.
      get fingerprint(): string {
        return (fingerprint ??= liveFingerprint(live.keys))
      },
      keyLimit: live.keyLimit,
      ...(live.userStatusNote ? {userStatusNote: live.userStatusNote} : {}),
      ...(listNotes(live).length > 0 ? {listNotes: listNotes(live)} : {}),
      ...(live.readAs ? {readAs: live.readAs.email || live.readAs.uid} : {}),
    },
    policy: {
      rotateOnRecipientRemoval: desired.policy.rotateOnRecipientRemoval,
      maxChangeRatio: desired.policy.maxChangeRatio,
      adopt: desired.policy.adopt,
      deleteRetiredAfter: formatDuration(desired.policy.deleteRetiredAfterMs),
      warnBefore: formatDuration(desired.policy.warnBeforeMs),
      orphanedKeys: desired.policy.orphanedKeys,
      undeclaredUsers: desired.policy.undeclaredUsers,
      ownerInactiveAfter: desired.policy.ownerInactiveAfterMs === undefined ? null : formatDuration(desired.policy.ownerInactiveAfterMs),
      force: flags.force,
      ...(replace.length > 0 ? {replace} : {}),
      ...(flags.rotationsOnly ? {rotationsOnly: true} : {}),
    },
    seal: {
      recipients: desired.seal.recipients,
      dir: desired.seal.dir,
      custody: desired.seal.custody,
      custodyGrace: formatDuration(desired.seal.custodyGraceMs),
      files: {count: sealFiles.length, sha256: hash('sha256', sealFiles.map((f) => `${f}\n`).join(''))},
      stale,
    },
    summary,
    changes: actions.some((a) => a.kind !== 'no-op') || stale.length > 0,
    brakes: {refused: items.some((b) => !b.forceable || !flags.force), items},
    errors,
    blocked,
    actions,
    findings,
  }
}

function listNotes(live: LiveState): string[] {
  const notes: string[] = []
  if (live.listsCut.keys) notes.push(`GET /v1/apiKeys answered exactly ${DOCUMENTED_PAGE_SIZE} keys, Palette's documented page size, and the spec gives it no paging: keys past the ${DOCUMENTED_PAGE_SIZE}th may exist unseen, so no key is created (a create could make a second key of one name)`)
  if (live.listsCut.users) notes.push(live.listsCut.users)
  return notes
}

function summarise(actions: Action[]): Summary {
  const s: Summary = {create: 0, update: 0, revoke: 0, reactivate: 0, delete: 0, replace: 0, rotate: 0}
  for (const a of actions) if (a.kind !== 'no-op') s[a.kind]++
  return s
}

class DiffContext {
  private readonly blocked: PlanError[] = []
  private readonly actions: Action[] = []
  private findings: Finding[] = []
  /** Retired keys kept for deleteRetiredAfter that have expired: deleted early when their user needs the slot. */
  private readonly expiredRetired = new Map<string, LiveKey[]>()
  private readonly claimed = new Set<string>()
  /** The apiKey permissions the caller's roles hold over others' keys. */
  readonly held: ReadonlySet<string>
  /** Creates whose name another key of the owner may still hold (settleNames). */
  private readonly creates: Array<Extract<Action, {kind: 'create'}>> = []
  /** Matched keys under a transient name, to be given their declared name (settleNames). */
  private readonly renames: Array<{key: LiveKey; name: string; address: string; email: string; declared: boolean}> = []
  /** Declared e-mails (lower case) that are not users of the tenant: their keys are blocked. */
  private readonly unknown = new Set<string>()
  private readonly usersByEmail = new Map<string, LiveUser>()
  private readonly usersByUid = new Map<string, LiveUser>()
  private readonly keysByUser = new Map<string, LiveKey[]>()
  private readonly keysByUid = new Map<string, LiveKey>()
  /** Matchable keys (managed or unmanaged, not pending or retired) by user uid and name. */
  private readonly byUserAndName = new Map<string, Map<string, LiveKey[]>>()
  /** Predecessors named by a live successor's SUCCEEDS annotation that is kept and delivered, each with that successor. */
  private readonly superseded: Map<string, LiveKey>
  /** The declared keys by owner uid and name. */
  private readonly declaredByUser = new Map<string, Map<string, DesiredKey>>()
  /** The --replace addresses, e-mail in lower case. */
  private readonly requested: Set<string>
  /**
   * Successors and moved keys (seal custody folder) with no sealed file yet while the key they
   * replace is live, created within seal.custodyGrace (the commit-back may be in flight): the uid
   * of the key each holds back, which gets no action meanwhile.
   */
  private readonly waiting = new Map<string, string>()
  /** The keys held back, each with the key waiting for its sealed file. */
  private readonly heldBack = new Map<string, LiveKey>()
  /** Such keys past seal.custodyGrace: nobody has their value; deleted like a pending leftover, and the change made again. */
  private readonly abandoned = new Set<string>()
  private readonly nowMs: number
  /** The seal folder's sealed files by the key uid in their names (names that hold no uid are not palette-keys' files). */
  private readonly sealedByUid = new Map<string, string[]>()

  /** The actions so far, unsorted. */
  get planned(): readonly Action[] {
    return this.actions
  }

  constructor(
    private readonly desired: DesiredState,
    private readonly live: LiveState,
    now: Date,
    sealFiles: string[],
    replace: string[],
    private readonly sealHeaders: Record<string, HeaderReading>,
  ) {
    this.nowMs = now.getTime()
    this.requested = new Set(replace.map(lowerEmail))
    for (const file of sealFiles) {
      const uid = uidOfSealedFileName(file)
      if (!isPaletteUid(uid)) continue
      pushTo(this.sealedByUid, uid, file)
    }
    this.held = new Set(live.callerPermissions ?? (live.callerIsAdmin === true ? API_KEY_PERMISSIONS : []))
    for (const u of live.users) {
      this.usersByEmail.set(u.email.toLowerCase(), u)
      this.usersByUid.set(u.uid, u)
    }
    for (const k of live.keys) this.keysByUid.set(k.uid, k)
    for (const u of desired.users) {
      const owner = this.usersByEmail.get(u.email.toLowerCase())
      if (owner) this.declaredByUser.set(owner.uid, new Map(u.keys.map((k) => [k.name, k])))
    }
    this.superseded = supersededUids(live.keys, (k) => this.kept(k) && !this.undelivered(k), this.keysByUid)
    this.unsealedSuccessors()
    // No sort of all keys here: actions and findings are sorted at the end, and twins (the
    // one place where the order of live keys shows) are sorted when met, in pick().
    for (const k of live.keys) {
      pushTo(this.keysByUser, k.userUid, k)
      const ownership = ownershipOf(k.annotations, k.isActive)
      if ((ownership === 'managed' || ownership === 'unmanaged') && !this.waiting.has(k.uid) && !this.abandoned.has(k.uid)) {
        let byName = this.byUserAndName.get(k.userUid)
        if (!byName) this.byUserAndName.set(k.userUid, (byName = new Map()))
        // A key under a transient name (its NAME mark) stands for the declared name it will take.
        pushTo(byName, intendedName(k), k)
      }
    }
  }

  /**
   * Whether a key's value is in custody. Under seal custody `folder`, a key palette-keys created
   * (its CUSTODY mark) is kept if and only if a sealed file for its uid is in its owner's folder
   * of the seal folder this plan read; any other key unless it carries the pending mark.
   */
  private kept(k: LiveKey): boolean {
    if (ownershipOf(k.annotations, k.isActive) === 'pending') return false
    if (this.desired.seal.custody !== 'folder' || k.annotations[CUSTODY] !== CUSTODY_FOLDER) return true
    const owner = this.usersByUid.get(k.userUid)
    if (!owner) return true
    const folder = `${safeName(owner.email)}/`
    return (this.sealedByUid.get(k.uid) ?? []).some((f) => f.startsWith(folder))
  }

  /**
   * The `rotate` generation a key was made for. Whoever holds a key can rewrite its marks, so a key
   * with a sealed file in its owner's folder (custody `folder`) has the generation its file's name
   * gives (CI put the file in the repository); any other its GENERATION mark; 0 without either.
   */
  private generationOf(k: LiveKey): number {
    if (this.desired.seal.custody === 'folder' && k.annotations[CUSTODY] === CUSTODY_FOLDER) {
      const owner = this.usersByUid.get(k.userUid)
      const folder = owner ? `${safeName(owner.email)}/` : undefined
      const files = (this.sealedByUid.get(k.uid) ?? []).filter((f) => folder !== undefined && f.startsWith(folder))
      if (files.length > 0) return Math.max(...files.map((f) => generationOfSealedFileName(f) ?? 0))
    }
    const mark = k.annotations[GENERATION]
    return mark !== undefined && /^[0-9]{1,9}$/.test(mark) ? Number(mark) : 0
  }

  /** The declaration a live key stands for (its owner's, under its intended name), if any. */
  private declarationOf(k: LiveKey): DesiredKey | undefined {
    return this.declaredByUser.get(k.userUid)?.get(intendedName(k))
  }

  /**
   * A key palette-keys manages whose declaration has delivery targets that its DELIVERED mark does
   * not list: its value was sealed, but a target never got it (a failed delivery, a kill between
   * the seal and the delivery, or a target added since). The value cannot be read again in CI.
   */
  private undelivered(k: LiveKey, declared = this.declarationOf(k)): boolean {
    if (!declared || declared.deliver.length === 0 || ownershipOf(k.annotations, k.isActive) !== 'managed') return false
    const got = deliveredIds(k.annotations[DELIVERED])
    return declared.deliver.some((d) => !got.has(deliveryId(d)))
  }

  /** How long ago a key was created; when Palette did not say, as if long ago (no grace is given on a guess). */
  private age(k: LiveKey): number {
    const made = Date.parse(k.createdAt)
    return this.nowMs - (Number.isNaN(made) ? 0 : made)
  }

  /**
   * A rotation's successor or a moved key that is not kept (no sealed file) while the key it
   * replaces is live: an apply killed between its create and its seal, or a commit-back not
   * landed yet. Retiring the old key now would leave nobody a working value, so within
   * seal.custodyGrace both are left as they are (a finding says so); after it the new key is
   * abandoned (deleted, as nobody has its value) and the change is planned again from the old key.
   * A SUCCEEDS mark is honoured under predecessorOf's rules; a REPLACES mark only where the file
   * declares that move (the old key is its movedFrom user's, under the declared name).
   */
  private unsealedSuccessors(): void {
    for (const k of this.live.keys) {
      const kept = this.kept(k)
      if ((kept && !this.undelivered(k)) || ownershipOf(k.annotations, k.isActive) !== 'managed') continue
      const old = predecessorOf(k, this.keysByUid) ?? this.movedFrom(k)
      // A retired predecessor (the rotation revoked it) works no more: the new key is the declared one, value-lost or not.
      const working = old !== undefined && ['managed', 'unmanaged'].includes(ownershipOf(old.annotations, old.isActive))
      if (!working) continue
      // Sealed but not delivered: its consumers never got it, and nobody can read it again in CI; the old key still works.
      if (kept) this.abandoned.add(k.uid)
      else if (this.age(k) < this.desired.seal.custodyGraceMs) {
        this.waiting.set(k.uid, old.uid)
        this.heldBack.set(old.uid, k)
      } else this.abandoned.add(k.uid)
    }
  }

  /** The old key a moved key's REPLACES mark names, where the file declares that move. */
  private movedFrom(k: LiveKey): LiveKey | undefined {
    const old = this.keysByUid.get(k.annotations[REPLACES] ?? '')
    const owner = this.usersByUid.get(k.userUid)
    const from = old && this.usersByUid.get(old.userUid)
    if (!old || !owner || !from || old.userUid === k.userUid) return undefined
    const name = intendedName(k)
    const declared = this.declaredUser(owner.email)?.keys.find((d) => d.name === name)
    if (declared?.movedFrom?.toLowerCase() !== from.email.toLowerCase()) return undefined
    return old.name === name || old.name === declared.renamedFrom ? old : undefined
  }

  /** A held-back key's finding: its successor (or moved key) waits for its sealed file. */
  private holdFinding(k: LiveKey, address: string, email: string, name: string): void {
    const next = this.heldBack.get(k.uid)!
    const owner = this.usersByUid.get(next.userUid)
    const where = `${this.desired.seal.dir}/${owner ? safeName(owner.email) : next.userUid}/`
    this.findings.push({kind: 'value-unconfirmed', address, email, name, uid: next.uid, message: `key ${next.uid}, made to replace key ${k.uid}, has no sealed file in ${where} yet (created ${formatDuration(Math.max(this.age(next), 0))} ago; its commit-back may be in flight): both are left as they are until it is there; once seal.custodyGrace ${formatDuration(this.desired.seal.custodyGraceMs)} has passed without one, the new key is deleted and the change made again`})
  }

  /** A key as the plan treats it: a RETIRING predecessor named by a kept successor is retired. */
  private ownership(k: LiveKey): ReturnType<typeof ownershipOf> {
    if (this.abandoned.has(k.uid)) return 'pending'
    if (this.superseded.has(k.uid) && k.annotations[RETIRING] !== undefined) return 'retired'
    return ownershipOf(k.annotations, k.isActive)
  }

  /**
   * Problems with the file as a whole against this tenant: missing rights. A declared user who
   * is not a user of the tenant (removed in the identity provider, or not invited yet) blocks
   * only their own keys: every other user is planned as usual.
   */
  preflight(): PlanError[] {
    const errors: PlanError[] = []
    const emails = declaredEmails(this.desired)
    const tenant = this.live.tenant.orgName || this.live.tenant.uid
    const unknown = emails.filter((e) => !this.usersByEmail.has(e.toLowerCase())).sort(cmp)
    // The keys moved from each unknown user, found in one pass over the declared keys (not one pass an unknown user).
    const movedFrom = new Map<string, string[]>()
    if (unknown.length > 0) {
      for (const u of this.desired.users) {
        for (const k of u.keys) {
          if (k.movedFrom !== undefined) pushTo(movedFrom, k.movedFrom.toLowerCase(), `${u.email}/${k.name}`)
        }
      }
    }
    for (const email of unknown) {
      this.unknown.add(email.toLowerCase())
      const declared = this.declaredUser(email)
      const sources = movedFrom.get(email.toLowerCase()) ?? []
      const role = [declared ? `declares ${declared.keys.length} key${declared.keys.length === 1 ? '' : 's'} of this user` : '', sources.length > 0 ? `names them as movedFrom of ${sources.join(', ')}` : ''].filter(Boolean).join(' and ')
      this.blocked.push({
        code: 'unknown-user',
        address: email,
        message: `${email} is not a user of tenant ${tenant}, but the file ${role}: nothing is done for ${sources.length > 0 && !declared ? 'those keys' : 'them'}; every other user is planned as usual`,
        hint: `If ${email} was removed (for example through SSO), take them out of the file (their keys stay in Palette: see policy.orphanedKeys); if they are not invited yet, invite them in Palette; or fix the spelling.`,
      })
    }
    const others = emails.filter((e) => !this.unknown.has(e.toLowerCase()) && this.usersByEmail.get(e.toLowerCase())!.uid !== this.live.caller.uid).sort(cmp)
    // Without apiKey.list the key list holds only the caller's own keys: others' would look absent, and be created twice.
    if (others.length > 0 && !this.held.has('apiKey.list') && this.live.caller.uid !== '') {
      errors.push({
        code: 'not-tenant-admin',
        message: `${this.live.caller.email || this.live.caller.uid} is not a tenant admin (their roles hold no apiKey.list over other users' keys), so may see and manage only their own keys, but the file declares keys of ${others.join(', ')}`,
        hint: 'Run with a Tenant Admin\'s API key, or keep only your own user in the file.',
      })
    }
    return errors
  }

  /**
   * Which keys are the caller's own decides the self-lockout brake and the order of actions.
   * Palette's spec makes every field of /v1/users/info optional: without the caller's uid
   * the tool cannot tell, so it refuses to revoke or delete anything rather than guess.
   */
  callerProblems(): PlanError[] {
    if (this.live.caller.uid !== '' || !this.actions.some(isDestructive)) return []
    return [
      {
        code: 'unknown-caller',
        message: 'Palette did not say who the caller is (GET /v1/users/info gave no userUid), so palette-keys cannot tell which keys are its own and will not revoke or delete any',
        hint: 'Check the API key and the host; a plan that only creates or updates keys still works.',
      },
    ]
  }

  /** New values with nowhere to go: caught at plan time (a red PR check), not after the merge. */
  sealProblems(): PlanError[] {
    const creates = this.actions.filter((a) => (a.kind === 'create' || a.kind === 'replace' || a.kind === 'rotate') && a.target.sealTo.recipients.length === 0).length
    if (creates === 0) return []
    return [{code: 'no-recipients', message: `the plan creates ${creates} key value${creates === 1 ? '' : 's'}, but seal.recipients is empty: they could not be kept`, hint: 'Add a recipient to seal.recipients (`palette-keys keygen -o identity.txt` prints one).'}]
  }

  /**
   * The key cap (plan/key-limit.ts): a user who would pass it during the apply has their expired
   * retired keys deleted first (they authenticate nothing); one who still would refuses the whole
   * plan, before any change, as a failure in the middle of an apply would leave half a rotation.
   */
  keyLimitProblems(): PlanError[] {
    const limit = this.live.keyLimit
    const heldBy = (user: string) => this.keysByUser.get(user)?.length ?? 0
    let over = usersOverLimit(this.sortedActions(true), this.live.caller.uid, heldBy, limit.perUser)
    // Free what needs no asking, then count again: the actions and findings are each filtered once.
    const freed = new Set<string>()
    const deletes: Action[] = []
    for (const {user} of over) {
      for (const k of this.expiredRetired.get(user) ?? []) {
        freed.add(k.uid)
        deletes.push({kind: 'delete', address: `${this.usersByUid.get(user)?.email ?? user}/${k.name}`, key: this.ref(k), cleanup: true, reason: `retired by a rotation and expired: deleted now to free a slot under Palette's key limit (${limit.perUser} per user)`})
      }
      this.expiredRetired.delete(user)
    }
    if (freed.size > 0) {
      // Their clean-up revokes (a retired key must stay revoked) give way to the deletes.
      const kept = this.actions.filter((x) => !(x.kind === 'revoke' && freed.has(x.key.uid)))
      this.actions.length = 0
      for (const x of [...kept, ...deletes]) this.actions.push(x)
      this.findings = this.findings.filter((f) => f.uid === undefined || !freed.has(f.uid))
      over = usersOverLimit(this.sortedActions(true), this.live.caller.uid, heldBy, limit.perUser)
    }
    return over.map((o) => keyLimitProblem(o, {email: this.usersByUid.get(o.user)?.email ?? o.user, keys: this.keysByUser.get(o.user) ?? [], keyLimit: limit, nowMs: this.nowMs, ownership: (k) => this.ownership(k)}))
  }

  /** The users the file names (declared users and move sources) and its declared keys (of users of the tenant). */
  declaredScope(): DeclaredScope {
    return {
      userUids: new Set(declaredEmails(this.desired).flatMap((e) => this.usersByEmail.get(e.toLowerCase())?.uid ?? [])),
      declares: (userUid, name) => this.declaredByUser.get(userUid)?.has(name) ?? false,
    }
  }

  matchUser(user: DesiredUser): void {
    if (this.unknown.has(user.email.toLowerCase())) return
    const owner = this.user(user.email)
    for (const key of user.keys) this.matchKey(user, owner, key)
  }

  private matchKey(user: DesiredUser, owner: LiveUser, key: DesiredKey): void {
    const address = `${user.email}/${key.name}`
    let match = this.pick(owner, key.name, address)
    if (match === null) return
    let renamedFrom: string | undefined
    if (!match && key.renamedFrom) {
      match = this.pick(owner, key.renamedFrom, address)
      if (match === null) return
      if (match) renamedFrom = key.renamedFrom
    }
    if (!match) {
      if (!key.active) {
        this.findings.push({kind: 'absent-inactive', address, email: user.email, name: key.name, message: 'declared active: false and absent from Palette: nothing to revoke'})
        return
      }
      if (key.movedFrom && this.unknown.has(key.movedFrom.toLowerCase())) return // blocked with its source (preflight)
      if (key.movedFrom) {
        const source = this.user(key.movedFrom)
        let from = this.pick(source, key.name, address)
        if (from === undefined && key.renamedFrom) from = this.pick(source, key.renamedFrom, address)
        if (from === null) return
        if (from && this.heldBack.has(from.uid)) {
          this.claimed.add(from.uid)
          this.holdFinding(from, address, user.email, key.name)
          return
        }
        if (from) {
          this.claimed.add(from.uid)
          if (this.cutList(address)) return
          this.actions.push({kind: 'replace', address, from: this.ref(from), target: {...this.newKey(user.email, owner, key), createAs: transientName(key.name, from.uid)}, reason: `moved from ${key.movedFrom}: Palette cannot reassign a key, so a new one is created for ${user.email} and the old one deleted`})
          return
        }
      }
      if (this.cutList(address)) return
      const target = this.newKey(user.email, owner, key)
      const create: Action = {kind: 'create', address, target, reason: 'declared, not in Palette'}
      this.actions.push(create)
      this.creates.push(create)
      return
    }
    this.claimed.add(match.uid)
    if (this.heldBack.has(match.uid)) {
      this.holdFinding(match, address, user.email, key.name)
      this.actions.push({kind: 'no-op', address, key: this.ref(match, false), reason: 'left as it is while the key made to replace it waits for its sealed file'})
      return
    }
    const ownership = ownershipOf(match.annotations, match.isActive)
    const adopt = ownership === 'unmanaged'
    if (adopt && !(key.adopt || this.desired.policy.adopt)) {
      this.blocked.push({
        code: 'unmanaged-conflict',
        address,
        message: `${address} exists in Palette (uid ${match.uid}) but was not created by palette-keys; it is left alone, and nothing is done for this key`,
        hint: 'Set adopt: true on the key (or policy.adopt: true) to manage it, or give the declared key another name.',
      })
      return
    }
    if (key.movedFrom) this.replaceLeftover(user, key, match, address)
    // The fingerprint is a hash per key: computed only for keys an action changes.
    let fingerprinted: KeyRef | undefined
    const ref = (): KeyRef => (fingerprinted ??= this.ref(match))
    // Parsed once here: rotate() and expiryFindings() both need it.
    const expiryMs = match.expiry === '' ? Number.NaN : Date.parse(match.expiry)
    if (this.valueLost(user, owner, key, match, ref, address)) return
    if (this.rotate(user, owner, key, match, expiryMs, ref, address)) return
    if (this.forcedRotation(user, owner, key, match, expiryMs, ref, address)) return

    this.recipientFindings(user, key, match, address)
    const changes: FieldChange[] = []
    // A declared rename, or a successor or moved key still under its transient name: it takes the declared name once no
    // other key of its owner holds it (settleNames).
    if (match.name !== key.name) this.renames.push({key: match, name: key.name, address, email: user.email, declared: Boolean(renamedFrom)})
    if (match.description !== key.description) changes.push({field: 'description', before: match.description, after: key.description})
    if (key.expiry.kind === 'at' && match.expiry !== key.expiry.at) changes.push({field: 'expiresAt', before: match.expiry, after: key.expiry.at})
    if (adopt) changes.push({field: 'ownership', before: 'unmanaged', after: 'managed'})
    if (changes.length > 0) {
      this.actions.push({kind: 'update', address, key: ref(), changes, reason: changes.map((c) => changeReason(c)).join('; ')})
    }
    if (key.active !== match.isActive) {
      this.actions.push(
        key.active
          ? {kind: 'reactivate', address, key: ref(), reason: 'declared active, revoked in Palette'}
          : {kind: 'revoke', address, key: ref(), reason: 'declared active: false'},
      )
    } else if (changes.length === 0) {
      this.actions.push({kind: 'no-op', address, key: this.ref(match, false), reason: 'matches the declaration'})
    }
    if (key.active) this.expiryFindings(user.email, key.name, match, expiryMs, address, key.expiry.kind === 'at')
  }

  /**
   * A move whose old key outlived it (its DELETE failed or was interrupted): the new key's
   * REPLACES mark names the old one. The file authorises it, not the mark: the old key must
   * belong to the user the file says the key moved from, under the declared name.
   */
  private replaceLeftover(user: DesiredUser, key: DesiredKey, match: LiveKey, address: string): void {
    const oldUid = match.annotations[REPLACES]
    // Only once the new key is kept: until its sealed file is there, the old key holds the only working value.
    if (oldUid === undefined || this.unknown.has(key.movedFrom!.toLowerCase()) || ownershipOf(match.annotations, match.isActive) !== 'managed' || !this.kept(match)) return
    const old = this.keysByUid.get(oldUid)
    if (!old || this.claimed.has(old.uid)) return
    if (old.userUid !== this.user(key.movedFrom!).uid || (old.name !== key.name && old.name !== key.renamedFrom)) return
    this.claimed.add(old.uid)
    this.actions.push({kind: 'delete', address, key: this.ref(old), cleanup: true, reason: `the old key of ${key.movedFrom}, left by an interrupted move to ${user.email} (the new key exists and is sealed)`})
  }

  /**
   * Keys palette-keys made under a transient name (an interrupted rotation or move, or one whose
   * predecessor kept the name) take their declared name once no other key of their owner holds
   * it: that key is gone, or this plan deletes it earlier in the same lane (another user's lane
   * runs its deletes first; the caller's runs only its clean-up deletes of a name it gives again
   * first, so behind any other the caller's key waits for the next apply). A declared rename
   * (renamedFrom) waits the same way. Until then the key keeps working under its present name, and
   * a finding says why.
   */
  settleNames(): void {
    // Deletes that run before a create or rename of the same user: every delete in another user's lane; in the caller's,
    // only the clean-up ones of a name it creates (plan/order.ts).
    const deletes = new Map(this.actions.flatMap((a) => (a.kind === 'delete' ? [[a.key.uid, a] as const] : [])))
    const caller = this.live.caller.uid
    const goneFirst = (k: LiveKey) => {
      const d = deletes.get(k.uid)
      return d !== undefined && (k.userUid !== caller || d.cleanup === true)
    }
    // A key of the owner that no declaration takes still holds a created key's name (a retired predecessor, say):
    // the new key is made under a transient name, and takes the declared one once that key is gone.
    // Who holds or is given each name: live keys and this plan's creates (indexed once, when a create or rename needs it).
    let byName: Map<string, Array<{userUid: string; uid?: string}>> | undefined
    const holdersOf = (name: string) => {
      if (!byName) {
        byName = new Map()
        for (const k of this.live.keys) pushTo(byName, k.name, {userUid: k.userUid, uid: k.uid})
        for (const c of this.creates) pushTo(byName, c.target.name, {userUid: c.target.userUid})
      }
      return byName.get(name) ?? []
    }
    // A rotation's predecessor steps aside itself (renamed, or deleted first), and so does the key it displaces: only another key holding the name counts.
    const rotations = this.actions.filter((a): a is Extract<Action, {kind: 'rotate'}> => a.kind === 'rotate')
    for (const r of rotations) {
      const holder = (this.keysByUser.get(r.target.userUid) ?? []).filter((k) => k.uid !== r.key.uid && k.uid !== r.displaces?.uid && k.name === r.target.name && !goneFirst(k)).sort((a, b) => cmp(a.uid, b.uid))[0]
      if (holder) r.target.createAs = transientName(r.target.name, holder.uid)
    }
    for (const c of this.creates) {
      // The first by uid, not by Palette's listing order: the same tenant gives the same plan whatever the order.
      const holder = (this.keysByUser.get(c.target.userUid) ?? []).filter((k) => k.name === c.target.name && !goneFirst(k)).sort((a, b) => cmp(a.uid, b.uid))[0]
      if (holder) {
        c.target.createAs = transientName(c.target.name, holder.uid)
        c.reason = `declared, not in Palette; made as "${c.target.createAs}" while key ${holder.uid} holds the name`
      }
      // Whether names are unique within the whole tenant is UNCERTAIN (README, row 7): where they are, no
      // order can make two users' keys of one name, so the plan says so before review.
      if (holdersOf(c.target.name).some((h) => h.userUid !== c.target.userUid)) c.reason += sharedNameWarning(c.target.name, 'create')
    }
    if (this.renames.length === 0) return
    // The actions of the renamed keys, found by uid once (not a scan of every action per rename); no-ops a rename replaces are removed in one pass.
    const updates = new Map<string, Extract<Action, {kind: 'update'}>>()
    const noops = new Set<string>()
    for (const a of this.actions) {
      if (a.kind === 'update') {
        if (!updates.has(a.key.uid)) updates.set(a.key.uid, a)
      } else if (a.kind === 'no-op') noops.add(a.key.uid)
    }
    const replaced = new Set<string>()
    for (const r of this.renames) {
      const holders = (this.keysByUser.get(r.key.userUid) ?? []).filter((k) => k.uid !== r.key.uid && k.name === r.name)
      // The caller's renames run before its deletes but its clean-up ones (plan/order.ts): goneFirst says which go first.
      const freed = holders.every(goneFirst)
      if (!freed) {
        const held = [...holders].sort((a, b) => cmp(a.uid, b.uid)).find((h) => !goneFirst(h)) ?? holders[0]!
        this.findings.push({kind: 'transient-name', address: r.address, email: r.email, name: r.name, uid: r.key.uid, message: `keeps its ${r.declared ? '' : 'transient '}name "${r.key.name}" while key ${held.uid} holds "${r.name}" (Palette may refuse two keys of one name); it takes "${r.name}" once that key is gone`})
        continue
      }
      const change: FieldChange = {field: 'name', before: r.key.name, after: r.name}
      // Another user's key that keeps the name (one this plan deletes runs first: plan/order.ts), or is created with it.
      const shared = holdersOf(r.name).some((h) => h.userUid !== r.key.userUid && (h.uid === undefined || !deletes.has(h.uid)))
      const why = `${changeReason(change)}${shared ? sharedNameWarning(r.name, 'rename') : ''}`
      const update = updates.get(r.key.uid)
      if (update) {
        update.changes.unshift(change)
        update.reason = `${why}; ${update.reason}`
        continue
      }
      if (noops.has(r.key.uid)) replaced.add(r.key.uid)
      const renamed: Extract<Action, {kind: 'update'}> = {kind: 'update', address: r.address, key: this.ref(r.key), changes: [change], reason: why}
      this.actions.push(renamed)
      if (!updates.has(r.key.uid)) updates.set(r.key.uid, renamed)
    }
    if (replaced.size > 0) {
      const kept = this.actions.filter((a) => !(a.kind === 'no-op' && replaced.has(a.key.uid)))
      this.actions.length = 0
      for (const a of kept) this.actions.push(a)
    }
  }

  /**
   * Custody (seal.custody folder): a key palette-keys created (its CUSTODY mark) is kept if and only
   * if a sealed file for its uid is in its owner's folder of the seal folder this plan read. One
   * without is value-lost: nobody the team trusts can open its value (a commit-back that lost a push
   * race, a file deleted before it was committed), so it is replaced like an expired key, the old
   * key deleted. Within seal.custodyGrace of its creation the file may still be on its way (a
   * commit-back in flight): a finding says so and nothing is done yet. Adopted keys never carry the
   * mark (adoption removes one set by hand); a key declared inactive has no value anyone works with.
   */
  private valueLost(user: DesiredUser, owner: LiveUser, key: DesiredKey, match: LiveKey, ref: () => KeyRef, address: string): boolean {
    if (this.desired.seal.custody !== 'folder' || match.annotations[CUSTODY] !== CUSTODY_FOLDER || ownershipOf(match.annotations, match.isActive) !== 'managed') return false
    // A revoked one declared active again is replaced too: reactivating a value nobody has would give nobody a key.
    if (!key.active || this.kept(match)) return false
    const age = this.age(match)
    const where = `${this.desired.seal.dir}/${safeName(owner.email)}/`
    if (age < this.desired.seal.custodyGraceMs) {
      this.findings.push({kind: 'value-unconfirmed', address, email: user.email, name: key.name, uid: match.uid, message: `no sealed file for key ${match.uid} in ${where} yet (created ${formatDuration(Math.max(age, 0))} ago; its commit-back may be in flight): replaced as value-lost once seal.custodyGrace ${formatDuration(this.desired.seal.custodyGraceMs)} has passed without one`})
      return false
    }
    const target = this.newKey(user.email, owner, key)
    // A fixed expiresAt already past: no new key can be made (the expiry findings say so).
    if (Date.parse(target.expiresAt) <= this.nowMs) return false
    // A successor left by an interrupted replacement may be among the keys not listed.
    if (this.cutList(address)) return true
    const expired = match.expiry !== '' && Date.parse(match.expiry) <= this.nowMs
    this.actions.push({kind: 'rotate', address, key: ref(), target, retire: 'delete', ...(expired ? {} : {retiredAs: retiredName(key.name, match.uid)}), cause: 'value-lost', reason: `value-lost: palette-keys created this key, but no sealed file for it (uid ${match.uid}) is in ${where}, so no one can open its value (a commit-back that never landed?): a new key is created and sealed, then this one is deleted`})
    return true
  }

  /**
   * Sealed files whose key is gone or retired: `unseal` would serve a value that no longer
   * authenticates (and, next to its successor's file, two records for one key). A key's absence
   * counts only where the caller sees all of its owner's keys and the key list is whole.
   */
  staleSealedFiles(): StaleSealedFile[] {
    const out: StaleSealedFile[] = []
    const seesAll = this.live.callerIsAdmin === true || this.held.has('apiKey.list')
    const callerFolder = `${safeName(this.live.caller.email)}/`
    for (const [uid, files] of this.sealedByUid) {
      const k = this.keysByUid.get(uid)
      for (const file of files) {
        if (k) {
          if (this.ownership(k) === 'retired') out.push({file, uid, reason: `its key ${uid} was retired by a rotation (revoked): the value no longer authenticates`})
          continue
        }
        if (this.live.listsCut.keys || !(seesAll || file.startsWith(callerFolder))) continue
        out.push({file, uid, reason: `its key ${uid} is not in Palette (deleted by hand?): the value no longer authenticates`})
      }
    }
    return out.sort((a, b) => cmp(a.file, b.file))
  }

  /** Whom a key's value is sealed to, by its mark and its sealed files in its owner's folder (plan/recipients.ts). */
  private sealedTo(k: LiveKey, key: DesiredKey): SealedTo | undefined {
    const owner = this.usersByUid.get(k.userUid)
    return sealedToOf(k, key, owner ? `${safeName(owner.email)}/` : undefined, this.sealedByUid.get(k.uid), this.sealHeaders)
  }

  private recipientFindings(user: DesiredUser, key: DesiredKey, match: LiveKey, address: string): void {
    if (!key.active || !match.isActive || ownershipOf(match.annotations, match.isActive) !== 'managed') return
    const s = this.sealedTo(match, key)
    const finding = s && recipientFinding(s, key, {address, email: user.email, name: key.name, uid: match.uid})
    if (finding) this.findings.push(finding)
  }

  /** Rotation: an active key that has expired or is inside its rotateBefore window. */
  private rotate(user: DesiredUser, owner: LiveUser, key: DesiredKey, match: LiveKey, expiry: number, ref: () => KeyRef, address: string): boolean {
    if (!key.active || match.expiry === '') return false
    const remaining = expiry - this.nowMs
    const window = key.rotateBeforeMs
    if (!(remaining <= 0 || (window !== undefined && remaining <= window))) return false
    const target = this.newKey(user.email, owner, key)
    // A fixed expiresAt no later than the window gives a successor that needs rotating too:
    // only moving expiresAt forward helps (an update extends the key; see expiryFindings).
    if (Date.parse(target.expiresAt) - this.nowMs <= (window ?? 0) || Date.parse(target.expiresAt) <= expiry) return false
    // A successor left by an interrupted rotation may be among the keys not listed.
    if (this.cutList(address)) return true
    const why = remaining <= 0 ? `expired ${match.expiry.slice(0, 10)}` : `expires in ${formatDuration(remaining)} (rotateBefore ${formatDuration(window!)})`
    // An expired predecessor authenticates nothing, so there is nothing to keep it (revoked) for;
    // and an update of a key whose expiry has passed may be refused (the emulator does).
    this.pushRotation({address, ref, target, key, match, expired: remaining <= 0, why})
    return true
  }

  /**
   * A rotation not due to the key's expiry: one an earlier apply started and did not end (the key
   * carries RETIRING: killed before its successor was sealed or delivered), one asked for with
   * --replace, one asked for by a changed `rotate` generation, or a value never delivered to a
   * declared target. The successor is sealed and delivered before the key is revoked, which waits
   * for revokeAfter when the file gives one.
   */
  private forcedRotation(user: DesiredUser, owner: LiveUser, key: DesiredKey, match: LiveKey, expiry: number, ref: () => KeyRef, address: string): boolean {
    if (!key.active || !match.isActive || ownershipOf(match.annotations, match.isActive) === 'unmanaged') return false
    const generation = this.generationOf(match)
    let cause: RotateCause | undefined
    let why = ''
    if (match.annotations[RETIRING] !== undefined) {
      cause = 'unfinished'
      why = `rotate (unfinished): a rotation started ${match.annotations[RETIRING].slice(0, 10)} did not end (its successor was never sealed or delivered)`
    } else if (this.requested.size > 0 && this.requested.has(lowerEmail(address))) {
      cause = 'requested'
      why = 'rotate (requested) with --replace'
    } else if (key.generation !== undefined && key.generation !== generation) {
      cause = 'generation'
      why = `rotate (generation ${key.generation}, was ${generation})`
    } else if (this.undelivered(match, key) && this.kept(match)) {
      cause = 'undelivered'
      why = `rotate (undelivered): its value never reached ${this.owed(match)}, and cannot be read again in CI`
    } else {
      const removed = this.desired.policy.rotateOnRecipientRemoval ? (this.sealedTo(match, key)?.removed ?? []) : []
      if (removed.length > 0) {
        cause = 'recipient-removed'
        why = `rotate (recipient removed): its value was sealed to ${labels(removed)}, no longer in ${key.recipientsFrom}, who may keep a copy (git history keeps the old file)`
      }
    }

    if (cause === undefined) return false
    const target = this.newKey(user.email, owner, key)
    // A fixed expiresAt already past: no new key can be made (the expiry findings say so).
    if (Date.parse(target.expiresAt) <= this.nowMs) return false
    if (this.cutList(address)) return true
    this.pushRotation({address, ref, target, key, match, expired: match.expiry !== '' && expiry <= this.nowMs, cause, why})
    return true
  }

  /**
   * A rotation action. The predecessor is renamed out of the successor's way first (Palette may
   * refuse two keys of one name), except an expired one: it authenticates nothing and may not be
   * updated, so it is deleted first (and no overlap keeps it).
   */
  private pushRotation(o: {address: string; ref: () => KeyRef; target: NewKey; key: DesiredKey; match: LiveKey; expired: boolean; cause?: RotateCause; why: string}): void {
    const retire = this.desired.policy.deleteRetiredAfterMs === 0 || o.expired ? 'delete' : 'revoke'
    const overlap = !o.expired && o.key.revokeAfterMs > 0 ? exactDuration(o.key.revokeAfterMs) : undefined
    const delivered = o.target.deliver ? `, delivered to ${o.target.deliver.length} target${o.target.deliver.length === 1 ? '' : 's'}` : ''
    const then = overlap ? `stays active for revokeAfter ${overlap} after the successor is created, then a later apply ${retire === 'delete' ? 'deletes' : 'revokes'} it` : `is ${retire === 'delete' ? 'deleted' : 'revoked'}`
    const steps = o.expired ? `it is deleted, then a successor is created and sealed${delivered}` : `a successor is created and sealed${delivered}, then the predecessor ${then}`
    this.actions.push({kind: 'rotate', address: o.address, key: o.ref(), target: o.target, retire, ...(o.expired ? {} : {retiredAs: retiredName(o.key.name, o.match.uid)}), ...(o.cause ? {cause: o.cause} : {}), ...(overlap ? {revokeAfter: overlap} : {}), reason: `${o.why}: ${steps}`})
  }

  /**
   * When a predecessor superseded by a kept, delivered successor is to be revoked: revokeAfter
   * (its declaration's) after the successor was created. Undefined for a key no successor names.
   */
  private overlapEnd(k: LiveKey): number | undefined {
    const next = this.superseded.get(k.uid)
    if (!next) return undefined
    const made = Date.parse(next.createdAt)
    return (Number.isNaN(made) ? 0 : made) + (this.declarationOf(next)?.revokeAfterMs ?? this.desired.defaults.revokeAfterMs)
  }

  private expiryFindings(email: string, name: string, k: LiveKey, expiry: number, address: string, fixed: boolean): void {
    if (k.expiry === '') return
    const remaining = expiry - this.nowMs
    const hint = fixed ? ' (move expiresAt forward to extend or rotate it)' : ''
    if (remaining <= 0) this.findings.push({kind: 'expired', address, email, name, uid: k.uid, expiresAt: k.expiry, message: `expired ${k.expiry.slice(0, 10)}${hint}`})
    else if (remaining <= this.desired.policy.warnBeforeMs) {
      this.findings.push({kind: 'expiring', address, email, name, uid: k.uid, expiresAt: k.expiry, message: `expires ${k.expiry.slice(0, 10)} (${this.inWords(Date.parse(k.expiry))})${hint}`})
    }
  }

  /** Live keys of a declared user that no declaration claimed. */
  leftovers(user: DesiredUser): void {
    if (this.unknown.has(user.email.toLowerCase())) return
    const owner = this.user(user.email)
    for (const k of this.keysByUser.get(owner.uid) ?? []) {
      if (this.claimed.has(k.uid)) continue
      // Its finding comes with the key it holds back, when a declaration took that key; else both are leftovers.
      if (this.waiting.has(k.uid) && this.claimed.has(this.waiting.get(k.uid)!)) continue
      const address = `${user.email}/${k.name}`
      const ref = this.ref(k)
      const ownership = this.ownership(k)
      if (ownership === 'pending') {
        const again = this.madeAgain().names.has(`${k.userUid}\u0000${k.name}`)
        // Sealed but not delivered everywhere: a target may hold its value, so it goes only once the rotation made again has delivered.
        const redo = this.abandoned.has(k.uid) && this.kept(k) ? this.madeAgain().rotations.get(`${k.userUid}\u0000${intendedName(k)}`)?.find((a) => a.displaces === undefined) : undefined
        if (redo) {
          redo.displaces = ref
          redo.displacedAs = retiredName(intendedName(k), k.uid)
          redo.reason += `; key ${k.uid}, made by the attempt that did not end (sealed, but not delivered to every target: ${this.owed(k)}), is renamed "${redo.displacedAs}" first and deleted once the new value is delivered (a target before the one that failed may hold its value)`
          continue
        }
        const why = this.abandoned.has(k.uid) && this.kept(k)
          ? `made by an interrupted rotation or move, and sealed, but not delivered to every target (not confirmed: ${this.owed(k)}; a target listed before the one that failed may hold it), and its value cannot be read again in CI: it is deleted and the change made again (the key it was to replace still works)`
          : this.abandoned.has(k.uid)
          ? `made by an interrupted rotation or move, and no sealed file for it is in ${this.desired.seal.dir}/ after seal.custodyGrace ${formatDuration(this.desired.seal.custodyGraceMs)}: nobody has its value (the key it was to replace is kept)`
          : 'created by an interrupted apply; its value was never sealed'
        this.actions.push({kind: 'delete', address, key: ref, cleanup: true, reason: `${why}${again ? ` (deleted before the key is created again: it holds the name, which Palette may not let two keys share${this.abandoned.has(k.uid) && this.kept(k) ? '' : ', and nobody has its value'})` : ''}`})
      } else if (ownership === 'retired') {
        const overlapEnd = this.overlapEnd(k)
        if (k.isActive && overlapEnd !== undefined && overlapEnd > this.nowMs) {
          const next = this.superseded.get(k.uid)!
          this.findings.push({kind: 'overlap', address, email: user.email, name: k.name, uid: k.uid, expiresAt: k.expiry || undefined, message: `predecessor of key ${next.uid}, still active so that its consumers can switch: revoked by an apply from ${new Date(overlapEnd).toISOString().slice(0, 16)}Z (${this.inWords(overlapEnd)}; revokeAfter)`})
          continue
        }
        const at = retiredAtOf(k.annotations)
        const retiredAt = Math.max(Date.parse(at ?? '') || 0, overlapEnd ?? 0)
        const until = retiredAt + this.desired.policy.deleteRetiredAfterMs
        if (until <= this.nowMs) this.actions.push({kind: 'delete', address, key: ref, cleanup: true, reason: `retired by a rotation on ${(at ?? '?').slice(0, 10)}`})
        else {
          if (k.expiry !== '' && Date.parse(k.expiry) <= this.nowMs) {
            pushTo(this.expiredRetired, k.userUid, k)
          }
          if (k.isActive) this.actions.push({kind: 'revoke', address, key: ref, cleanup: true, reason: overlapEnd === undefined || overlapEnd <= retiredAtOfMs(k) ? 'retired by a rotation, so it must stay revoked' : `retired by a rotation; its overlap (revokeAfter) ended ${new Date(overlapEnd).toISOString().slice(0, 10)}`})
          this.findings.push({kind: 'retired', address, email: user.email, name: k.name, uid: k.uid, message: `retired by a rotation; deleted after ${new Date(until).toISOString().slice(0, 10)}`})
        }
      } else if (this.superseded.has(k.uid)) {
        this.actions.push({kind: 'delete', address, key: ref, cleanup: true, reason: 'predecessor of a rotation whose successor exists (the rotation was interrupted)'})
      } else if (ownership === 'managed') {
        this.actions.push({kind: 'delete', address, key: ref, reason: 'created by palette-keys and no longer declared'})
      } else if (user.exclusive) {
        this.actions.push({kind: 'delete', address, key: ref, reason: `not declared, and ${user.email} is exclusive`})
      } else {
        this.findings.push({kind: 'unmanaged', address, email: user.email, name: k.name, uid: k.uid, expiresAt: k.expiry || undefined, message: 'not created by palette-keys; left alone'})
      }
    }
  }

  /**
   * The creates and rotations matchUser planned, by owner uid and the name they create under
   * (`again`) and by owner uid and declared name (rotations, which a redo may join): indexed once,
   * when leftovers() first meets a pending key, as leftovers add no creates or rotations.
   */
  private madeAgain(): {names: Set<string>; rotations: Map<string, Array<Extract<Action, {kind: 'rotate'}>>>} {
    if (this.madeAgainIndex) return this.madeAgainIndex
    const names = new Set<string>()
    const rotations = new Map<string, Array<Extract<Action, {kind: 'rotate'}>>>()
    for (const a of this.actions) {
      if (a.kind !== 'create' && a.kind !== 'rotate') continue
      names.add(`${a.target.userUid}\u0000${a.target.createAs ?? a.target.name}`)
      if (a.kind === 'rotate') pushTo(rotations, `${a.key.userUid}\u0000${a.target.name}`, a)
    }
    return (this.madeAgainIndex = {names, rotations})
  }

  private madeAgainIndex: ReturnType<DiffContext['madeAgain']> | undefined

  /** The findings (and policy actions) about key owners: plan/owner-findings.ts. */
  ownerFindings(): void {
    const reader: KeyReader = {owner: (uid) => this.usersByUid.get(uid), ownership: (k) => this.ownership(k), ref: (k) => this.ref(k), waiting: (k) => this.waiting.has(k.uid)}
    for (const found of [ownersOfKeys, undeclaredUsers]) {
      const {findings, actions} = found(this.desired, this.live, this.actions, reader, this.nowMs)
      this.findings.push(...findings)
      this.actions.push(...actions)
    }
  }

  /**
   * The one live key of `owner` named `name` that is still free, undefined if none, or null
   * when the file's key is blocked (recorded in `blocked`). Twins made by palette-keys (two
   * concurrent applies each created one) are resolved without asking: the oldest is kept
   * and the others deleted with their sealed files, so every live key ends with one sealed
   * value. Hand-made twins beside a managed key are left to leftovers() (reported, or
   * deleted for an exclusive user). Hand-made twins alone cannot be told apart: never guess.
   */
  private pick(owner: LiveUser, name: string, address: string): LiveKey | undefined | null {
    const all = this.byUserAndName.get(owner.uid)?.get(name)
    if (!all) return undefined
    if (all.length === 1) return this.free(all[0]!) ? all[0] : undefined
    const candidates = all.filter((k) => this.free(k)).sort(byCreation)
    if (candidates.length <= 1) return candidates[0]
    const managed = candidates.filter((k) => ownershipOf(k.annotations, k.isActive) === 'managed')
    if (managed.length > 0) {
      const [keep, ...twins] = managed
      for (const t of twins) {
        this.claimed.add(t.uid)
        this.actions.push({kind: 'delete', address, key: this.ref(t), cleanup: true, reason: `a twin of ${keep!.uid} (same user and name, both made by palette-keys, e.g. by two concurrent applies): the older is kept, this one and its sealed file are deleted`})
      }
      return keep
    }
    for (const k of candidates) this.claimed.add(k.uid)
    const newest = candidates[candidates.length - 1]!
    const adopting = this.desired.policy.adopt || this.desiredKeyAdopts(owner, name)
    this.blocked.push({
      code: 'ambiguous-key',
      address,
      message: `${owner.email} has ${candidates.length} hand-made live keys named "${name}": ${candidates.map((k) => `${k.uid} (created ${k.createdAt || '?'})`).join(', ')}. palette-keys cannot tell which one ${address} means, so none of them is touched and nothing is done for this key`,
      hint: `Delete (or rename in Palette) the one nobody uses, often the newer, ${newest.uid}; the next plan then ${adopting ? 'adopts the one left' : 'finds one hand-made key, which needs adopt: true to be managed'}.`,
    })
    return null
  }

  /**
   * A create rests on a key's absence from GET /v1/apiKeys; when that list may be cut (it has
   * no other read), the key may exist unseen, and creating it would make a second one: the key
   * is blocked instead (true).
   */
  private cutList(address: string): boolean {
    if (!this.live.listsCut.keys) return false
    this.blocked.push({
      code: 'key-list-cut',
      address,
      message: `GET /v1/apiKeys answered exactly ${DOCUMENTED_PAGE_SIZE} keys, Palette's documented page size, and the spec gives it no paging: ${address} may exist among keys not listed, so it is not created (that could make a second key)`,
      hint: `palette-keys cannot tell a tenant of exactly ${DOCUMENTED_PAGE_SIZE} keys from a list cut there: delete an unused key in Palette (or let this plan's deletes run first), then plan again.`,
    })
    return true
  }

  private desiredKeyAdopts(owner: LiveUser, name: string): boolean {
    const user = this.declaredUser(owner.email)
    return user?.keys.some((k) => (k.name === name || k.renamedFrom === name) && k.adopt) ?? false
  }

  /** The declared user of an e-mail (matched case-insensitively), through an index made when first needed. */
  private declaredUser(email: string): DesiredUser | undefined {
    this.declaredUsers ??= new Map(this.desired.users.map((u) => [u.email.toLowerCase(), u]))
    return this.declaredUsers.get(email.toLowerCase())
  }

  private declaredUsers: Map<string, DesiredUser> | undefined

  private free(k: LiveKey): boolean {
    return !this.claimed.has(k.uid) && !this.superseded.has(k.uid)
  }

  private user(email: string): LiveUser {
    return this.usersByEmail.get(email.toLowerCase())!
  }

  private ref(k: LiveKey, fingerprint = true): KeyRef {
    const ref: KeyRef = {email: this.usersByUid.get(k.userUid)?.email ?? k.userUid, userUid: k.userUid, uid: k.uid, name: k.name}
    if (fingerprint) ref.fingerprint = keyFingerprint(k)
    return ref
  }

  private newKey(email: string, owner: LiveUser, key: DesiredKey): NewKey {
    const extra: Partial<NewKey> & Pick<NewKey, 'sealTo'> = {sealTo: {recipients: key.recipients, from: key.recipientsFrom},...(key.generation ? {generation: key.generation} : {}), ...(key.deliver.length > 0 ? {deliver: key.deliver} : {})}
    if (key.expiry.kind === 'at') return {email, userUid: owner.uid, name: key.name, description: key.description, expiresAt: key.expiry.at, ...extra}
    return {email, userUid: owner.uid, name: key.name, description: key.description, expiresAt: new Date(this.nowMs + key.expiry.ms).toISOString(), expiresIn: exactDuration(key.expiry.ms), ...extra}
  }

  /** The delivery targets a key's value is still owed to, for messages. */
  private owed(k: LiveKey): string {
    const got = deliveredIds(k.annotations[DELIVERED])
    return (this.declarationOf(k)?.deliver ?? []).filter((d) => !got.has(deliveryId(d))).map(deliveryLabel).join('; ')
  }

  private inWords(t: number): string {
    const ms = t - this.nowMs
    return ms < 0 ? `${formatDuration(-ms)} ago` : `in ${ms < DAY ? formatDuration(ms) : `${Math.floor(ms / DAY)}d`}`
  }

  /**
   * Others' keys first, the caller's last (its own key may be among them); then by address and kind.
   * `changing`: only the actions that change something (the key-cap check's lanes skip no-ops), in the same order.
   */
  sortedActions(changing = false): Action[] {
    // Each action's sort fields computed once, not at every comparison (100,000 no-ops are sorted too).
    const keyed = (changing ? this.actions.filter((a) => a.kind !== 'no-op') : this.actions).map((a) => ({a, mine: touchesUser(a, this.live.caller.uid) ? 1 : 0, kind: ACTION_KINDS.indexOf(a.kind)}))
    keyed.sort((x, y) => x.mine - y.mine || cmp(x.a.address, y.a.address) || x.kind - y.kind || cmp(touchedKey(x.a)?.uid ?? '', touchedKey(y.a)?.uid ?? ''))
    return keyed.map((x) => x.a)
  }

  sortedBlocked(): PlanError[] {
    return [...this.blocked].sort((a, b) => cmp(a.address ?? '', b.address ?? '') || cmp(a.code, b.code))
  }

  sortedFindings(): Finding[] {
    return [...this.findings].sort((a, b) => cmp(a.address, b.address) || cmp(a.kind, b.kind) || cmp(a.uid ?? '', b.uid ?? ''))
  }
}

function retiredAtOfMs(k: LiveKey): number {
  return Date.parse(retiredAtOf(k.annotations) ?? '') || 0
}

/** `email/name` with the e-mail in lower case (e-mails are matched case-insensitively). */
export function lowerEmail(address: string): string {
  const at = address.indexOf('/')
  return at < 0 ? address : `${address.slice(0, at).toLowerCase()}${address.slice(at)}`
}

/** Oldest first; the uid decides between keys created in the same instant. */
function byCreation(a: LiveKey, b: LiveKey): number {
  return cmp(a.createdAt, b.createdAt) || cmp(a.uid, b.uid)
}

/** Whether key names are unique within the whole tenant is UNCERTAIN (README, row 7): where they are, no order gives two users' keys one name. */
function sharedNameWarning(name: string, what: 'create' | 'rename'): string {
  return `; another user's key has the name "${name}" too: should Palette keep key names unique within the tenant, it refuses this ${what} (409), and one of the names must change`
}

function changeReason(c: FieldChange): string {
  switch (c.field) {
    case 'name':
      return `renamed from "${c.before}"`
    case 'description':
      return 'description differs'
    case 'expiresAt':
      return `expiresAt ${c.before.slice(0, 10) || 'unset'} → ${c.after.slice(0, 10)}`
    case 'ownership':
      return 'adopted: palette-keys will manage it'
  }
}
