import {createTwoFilesPatch} from 'diff'
import {cmp, type DesiredState} from '../config/desired-state.js'
import {formatDuration} from '../config/duration.js'
import {desiredView, liveView, viewDocument} from '../export/view.js'
import type {LiveState} from '../live/snapshot.js'
import {assertNever, type Plan, type PlanError, touchedKey} from '../plan/model.js'
import {ownershipOf} from '../plan/ownership.js'
import {lowerEmail} from '../plan/diff.js'

export const AUDIT_KINDS = [
  'missing',
  'unmanaged',
  'drift',
  'revoked-declared-active',
  'active-declared-revoked',
  'undeclared',
  'moved',
  'expired',
  'expiring',
  'rotation-due',
  'unfinished',
  'orphaned-owner',
  'undeclared-user',
  'owner-disabled',
  'owner-inactive',
  'value-lost',
  'undelivered',
  'stale-sealed-file',
  'recipient-removed',
  'sealed-to-other-recipients',
  'recipients-unrecorded',
] as const
export type AuditKind = (typeof AUDIT_KINDS)[number]

/**
 * Findings that leave an audit clean: a key inside its rotateBefore window that the next apply
 * rotates (a scheduled apply does), while more than half of the window is left. Past that it
 * is `expiring`, as the rotation is late (is the scheduled apply running?). And a sealed file that
 * does not say whom it is sealed to (sealed before palette-keys recorded that): nothing is wrong
 * with the value, only unknown; `reseal` records it.
 */
export const NOTICE_KINDS: ReadonlySet<AuditKind> = new Set(['rotation-due', 'recipients-unrecorded'])

export interface AuditFinding {
  kind: AuditKind
  address: string
  message: string
  uid?: string
}

export interface AuditReport {
  format: 'palette-keys-audit'
  formatVersion: 1
  createdAt: string
  host: string
  tenant: {uid: string; orgName: string}
  desired: {file: string; sha256: string}
  expiringWithin: string
  clean: boolean
  counts: Record<AuditKind, number>
  findings: AuditFinding[]
  /** Unified diff: the declared file and the live state, both in the normalised export form. */
  diff: string
  errors: PlanError[]
}

const DESCRIBE: Record<AuditKind, string> = {
  missing: 'declared but missing from Palette',
  unmanaged: 'live but not declared (not created by palette-keys)',
  drift: 'fields differ from the declaration',
  'revoked-declared-active': 'revoked in Palette but declared active',
  'active-declared-revoked': 'active in Palette but declared revoked',
  undeclared: 'live, no longer declared (apply would delete it)',
  moved: 'declared for another user (apply would replace it)',
  expired: 'expired',
  expiring: 'expiring soon',
  'rotation-due': 'inside its rotateBefore window: the next apply rotates it (not a failure while more than half the window is left)',
  unfinished: 'left by an interrupted apply, rotation or move, or a twin from concurrent applies (apply would clean it up)',
  'orphaned-owner': 'its owner is no longer a user of the tenant, but the key remains (policy.orphanedKeys)',
  'undeclared-user': 'made by palette-keys for a user the file no longer names (policy.undeclaredUsers)',
  'owner-disabled': 'active, but its owner is disabled in Palette',
  'owner-inactive': 'active, but its owner has not signed in within policy.ownerInactiveAfter',
  'value-lost': 'created by palette-keys, but no sealed file for it is in the seal folder (apply would replace it)',
  undelivered: 'a delivery target declared for the key does not hold its value (apply would rotate it and deliver the new one)',
  'stale-sealed-file': 'a sealed file whose key is gone or retired (apply would remove it)',
  'recipient-removed': 'its value was sealed to a recipient no longer in its list, who may keep a copy (apply would rotate it: policy.rotateOnRecipientRemoval)',
  'sealed-to-other-recipients': 'its value is sealed to other recipients than its list names now (palette-keys reseal re-seals it; a removed one may keep a copy)',
  'recipients-unrecorded': 'its sealed file does not say whom it is sealed to (palette-keys reseal records it)',
}

export function describeKind(kind: AuditKind): string {
  return DESCRIBE[kind]
}

/**
 * Declared versus live, for a scheduled job: every drift the plan would correct, the
 * unmanaged keys of declared users, and keys expired or expiring within `expiringWithinMs`.
 */
export function audit(desired: DesiredState, live: LiveState, plan: Plan, now: Date, expiringWithinMs: number): AuditReport {
  const findings: AuditFinding[] = []
  const liveByUid = new Map(live.keys.map((k) => [k.uid, k]))
  const rotated = new Set<string>()
  // Declared keys with a rotateBefore window and a relative expiry, by lower-cased address: an apply rotates them before they expire.
  const windows = new Map(desired.users.flatMap((u) => u.keys.filter((k) => k.active && k.rotateBeforeMs !== undefined && k.expiry.kind === 'in').map((k) => [lowerEmail(`${u.email}/${k.name}`), k.rotateBeforeMs!] as const)))
  // What the plan does to keys of removed owners, or of users the file no longer names, is said by their finding.
  const orphans = new Set(plan.findings.filter((f) => f.kind === 'orphaned-owner' || f.kind === 'undeclared-user').map((f) => f.uid))
  for (const a of plan.actions) {
    const uid = touchedKey(a)?.uid
    if (uid !== undefined && orphans.has(uid)) continue
    switch (a.kind) {
      case 'create':
        findings.push({kind: 'missing', address: a.address, message: 'declared, not in Palette'})
        break
      case 'update':
        findings.push({kind: 'drift', address: a.address, uid, message: a.changes.map((c) => (c.field === 'ownership' ? 'not yet managed by palette-keys (adopt)' : `${c.field}: live ${JSON.stringify(c.before)}, declared ${JSON.stringify(c.after)}`)).join('; ')})
        break
      case 'reactivate':
        findings.push({kind: 'revoked-declared-active', address: a.address, uid, message: 'revoked in Palette, declared active'})
        break
      case 'revoke':
        findings.push(a.cleanup ? {kind: 'unfinished', address: a.address, uid, message: a.reason} : {kind: 'active-declared-revoked', address: a.address, uid, message: 'active in Palette, declared active: false'})
        break
      case 'delete':
        findings.push({kind: a.cleanup ? 'unfinished' : 'undeclared', address: a.address, uid, message: a.reason})
        break
      case 'replace':
        findings.push({kind: 'moved', address: a.address, uid, message: `still held by ${a.from.email}`})
        break
      case 'rotate': {
        rotated.add(uid!)
        if (a.cause === 'value-lost' || a.cause === 'undelivered' || a.cause === 'recipient-removed') {
          findings.push({kind: a.cause, address: a.address, uid, message: a.reason})
          break
        }
        if (a.cause === 'unfinished') {
          findings.push({kind: 'unfinished', address: a.address, uid, message: a.reason})
          break
        }
        if (a.cause === 'generation') {
          findings.push({kind: 'drift', address: a.address, uid, message: a.reason})
          break
        }
        const k = liveByUid.get(uid!)
        const remaining = k === undefined ? 0 : Date.parse(k.expiry) - now.getTime()
        const window = windows.get(lowerEmail(a.address))
        if (!(remaining > 0)) findings.push({kind: 'expired', address: a.address, uid, message: `expired ${k?.expiry.slice(0, 10) ?? '?'}: due for rotation, and not rotated in time`})
        else if (window !== undefined && remaining > window / 2) findings.push({kind: 'rotation-due', address: a.address, uid, message: `expires ${k!.expiry.slice(0, 10)} (in ${formatDuration(remaining)}), inside rotateBefore ${formatDuration(window)}: the next apply rotates it`})
        else findings.push({kind: 'expiring', address: a.address, uid, message: `expires ${k!.expiry.slice(0, 10)} (in ${formatDuration(remaining)}): due for rotation${window === undefined ? '' : ` since it entered rotateBefore ${formatDuration(window)}, and not rotated yet (does a scheduled apply run?)`}`})
        break
      }
      case 'no-op':
        break
      default:
        assertNever(a)
    }
  }
  for (const f of plan.seal.stale) findings.push({kind: 'stale-sealed-file', address: `${plan.seal.dir}/${f.file}`, uid: f.uid, message: f.reason})
  for (const f of plan.findings) {
    if (f.kind === 'unmanaged' || f.kind === 'orphaned-owner' || f.kind === 'undeclared-user' || f.kind === 'owner-disabled' || f.kind === 'owner-inactive' || f.kind === 'sealed-to-other-recipients' || f.kind === 'recipients-unrecorded') findings.push({kind: f.kind, address: f.address, uid: f.uid, message: f.message})
  }
  // Expiry of every active key of the declared users, whatever the plan does with it; but for a
  // rotation's predecessor in its revokeAfter overlap: the file already revokes it (a run after the
  // overlap that has not revoked it yet is `unfinished`), so its own expiry says nothing.
  const overlapping = new Set(plan.findings.filter((f) => f.kind === 'overlap').map((f) => f.uid))
  const declared = new Set(desired.users.map((u) => u.email.toLowerCase()))
  const owners = new Map(live.users.map((u) => [u.uid, u.email]))
  for (const k of live.keys) {
    const email = owners.get(k.userUid)
    if (!email || !declared.has(email.toLowerCase()) || !k.isActive || k.expiry === '' || rotated.has(k.uid) || overlapping.has(k.uid) || ownershipOf(k.annotations, k.isActive) === 'pending') continue
    const remaining = Date.parse(k.expiry) - now.getTime()
    const address = `${email}/${k.name}`
    // Not yet inside its rotateBefore window: an apply then rotates it, well before it expires.
    const window = windows.get(lowerEmail(address))
    if (window !== undefined && remaining > window && ownershipOf(k.annotations, k.isActive) !== 'unmanaged') continue
    if (remaining <= 0) findings.push({kind: 'expired', address, uid: k.uid, message: `expired ${k.expiry.slice(0, 10)}`})
    else if (remaining <= expiringWithinMs) findings.push({kind: 'expiring', address, uid: k.uid, message: `expires ${k.expiry.slice(0, 10)} (in ${formatDuration(remaining)})`})
  }
  findings.sort((a, b) => cmp(a.address, b.address) || AUDIT_KINDS.indexOf(a.kind) - AUDIT_KINDS.indexOf(b.kind) || cmp(a.uid ?? '', b.uid ?? ''))
  const counts = Object.fromEntries(AUDIT_KINDS.map((k) => [k, findings.filter((f) => f.kind === k).length])) as Record<AuditKind, number>
  return {
    format: 'palette-keys-audit',
    formatVersion: 1,
    createdAt: now.toISOString(),
    host: live.host,
    tenant: live.tenant,
    desired: plan.desired,
    expiringWithin: formatDuration(expiringWithinMs),
    clean: findings.every((f) => NOTICE_KINDS.has(f.kind)) && plan.errors.length === 0 && plan.blocked.length === 0,
    counts,
    findings,
    diff: normalisedDiff(desired, live, now),
    errors: [...plan.errors, ...plan.blocked],
  }
}

/** The declared file and the live keys of the declared users, both as export would write them. */
function normalisedDiff(desired: DesiredState, live: LiveState, now: Date): string {
  const declared = desiredView(desired)
  const {view: actual} = liveView(live, desired.users.map((u) => u.email), now)
  // E-mails compare case-insensitively (Palette's may differ in case from the file's).
  const byEmail = (view: typeof declared) => new Map([...view].map(([e, keys]) => [e.toLowerCase(), keys]))
  const actualByEmail = byEmail(actual)
  const declaredByEmail = byEmail(declared)
  // A key declared revoked and absent is satisfied by its absence: no difference.
  for (const [email, keys] of declared) {
    const mine = actualByEmail.get(email.toLowerCase())
    for (const [name, v] of keys) if (v.active === false && !mine?.has(name)) keys.delete(name)
  }
  for (const [email, keys] of actual) {
    const mine = declaredByEmail.get(email.toLowerCase())
    for (const [name, v] of keys) {
      delete v.note
      delete v.adopt
      // A lifetime (expiresIn) fixes no date: compare the date only where one is declared.
      if (mine?.get(name) && mine.get(name)!.expiresAt === undefined) delete v.expiresAt
    }
  }
  const render = (v: typeof declared) => viewDocument(v).toString({lineWidth: 0})
  return createTwoFilesPatch(`${desired.file} (declared)`, `${live.host} (live)`, render(declared), render(actual), undefined, undefined, {context: 3})
}
