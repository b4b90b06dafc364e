import {Document, isPair, isScalar} from 'yaml'
import {exactDuration} from '../config/duration.js'
import {schemaComment} from '../config/schema-url.js'
import type {LiveState} from '../live/snapshot.js'
import {inertText} from '../render/inert.js'
import {liveView, type KeyView, type TenantView, viewDocument} from './view.js'

export interface ExportResult {
  yaml: string
  users: number
  keys: number
  omitted: Array<{address: string; uid: string; why: string}>
  /** The lifetime written as defaults.expiresIn, if any (no --pin-expiry). */
  defaultExpiresIn?: string
}

export interface ExportOptions {
  /** A comment above each key (its uid, creation date and ownership). Default true. */
  comments?: boolean
  /** Write each key's expiry date (expiresAt), as before issue 19: a pinned expiry never rotates. Default false. */
  pinExpiry?: boolean
  /** Declare the keys of the user the export runs as (the operator named that user with --user). Default false. */
  includeCaller?: boolean
  /** The version of palette-keys writing the file: its first line names the schema of that version for editors. */
  toolVersion?: string
}

const DAY = 86_400_000
const HOUR = 3_600_000
/** The largest lifetime a desired-state file can write (a six-digit number of days). */
const MAX_DAYS = 999_999

const CALLER_WHY = 'a key of the user this export runs as, so perhaps the key palette-keys runs with: an apply that rotated, revoked or deleted it would lock CI out (export --user naming that user declares it)'

/**
 * A desired-state file that declares the live keys of `emails` as they are.
 *
 * Expiry: without `pinExpiry`, no key gets a date. A date never rotates (the successor would
 * get the same one), so a re-exported file would freeze the tenant. Each key's lifetime
 * (creation to expiry, in whole days, or hours under a day) is written instead. The most
 * common lifetime is `defaults.expiresIn`, and a key with another one gets its own `expiresIn`.
 * A lifetime fixes no date, so the plan changes no live expiry. Keys are rotated when they
 * expire (or within a `rotateBefore` the team adds). A key whose lifetime is unknown (no
 * creation date) takes the default.
 *
 * The caller's keys are left out and written commented out with the reason, unless
 * `includeCaller` (the operator named that user).
 */
export function exportTenant(live: LiveState, emails: string[], now: Date, options: ExportOptions = {}): ExportResult {
  const {view, omitted} = liveView(live, emails, now)
  const callerEmail = [...view.keys()].find((e) => e.toLowerCase() === live.caller.email.toLowerCase() && live.caller.email !== '')
  let callerBlock: string[] = []
  // In the result's omitted list, not in the comment's: the commented-out block above it says why.
  const callerKeys: typeof omitted = []
  if (callerEmail !== undefined && !options.includeCaller) {
    const keys = view.get(callerEmail)!
    view.delete(callerEmail)
    if (keys.size > 0) {
      for (const k of keys.values()) callerKeys.push({email: callerEmail, key: k.live!, why: CALLER_WHY})
      callerBlock = commentedOut(callerEmail, keys, options.pinExpiry === true)
    }
  }
  if (options.comments === false) for (const keys of view.values()) for (const k of keys.values()) delete k.note
  const defaultExpiresIn = options.pinExpiry ? undefined : lifetimes(view)
  const head: Record<string, unknown> = {version: 1, seal: {recipients: [], dir: 'sealed'}}
  if (defaultExpiresIn) head.defaults = {expiresIn: defaultExpiresIn}
  const doc = viewDocument(view, head)
  doc.commentBefore = [
    ...(options.toolVersion ? [schemaComment(options.toolVersion), ''] : []),
    ` Exported by palette-keys from tenant ${live.tenant.orgName || live.tenant.uid} (${live.tenant.uid})`,
    ` at ${live.host} on ${now.toISOString()}.`,
    ' Keys palette-keys did not create carry `adopt: true`: the first apply marks them as managed',
    ' (the plan shows that as an update) and changes nothing else. Add seal.recipients before',
    ' declaring new keys: their values are sealed to them.',
    ...(options.pinExpiry
      ? [' Every key keeps its expiry date (--pin-expiry): a key with a fixed expiresAt is never rotated.']
      : [' Expiry: each key\'s lifetime (creation to expiry), the most common one as defaults.expiresIn;', ' no date is fixed, so keys are rotated when they expire (add rotateBefore to rotate earlier).']),
  ].join('\n')
  const items = doc.contents && 'items' in doc.contents ? doc.contents.items : []
  const top = (name: string) => items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === name)
  const seal = top('seal')
  if (seal && isPair(seal) && isScalar(seal.key)) seal.key.commentBefore = ' age recipients (age1…) that can open created values: `palette-keys keygen` prints one'
  if (callerEmail !== undefined && options.includeCaller && view.get(callerEmail)!.size > 0) {
    const pair = doc.getIn(['users'], true)
    const user = pair && 'items' in (pair as object) ? (pair as {items: unknown[]}).items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === callerEmail) : undefined
    if (user && isPair(user) && isScalar(user.key)) user.key.commentBefore = ` ${inertText(callerEmail)} is the user this export runs as: one of these keys is the key palette-keys runs with, and an apply that rotates, revokes or deletes it locks CI out.`
  }
  const trailer: string[] = []
  if (callerBlock.length > 0) trailer.push(...callerBlock)
  if (omitted.length > 0) {
    if (trailer.length > 0) trailer.push('')
    // Live names are anybody's text: shown inert, they cannot end the comment.
    trailer.push(' Not declared:', ...omitted.map((o) => `   ${inertText(`${o.email}/${o.key.name}`)} (uid ${inertText(o.key.uid)}): ${o.why}`))
  }
  if (trailer.length > 0) doc.comment = trailer.join('\n')
  let keys = 0
  for (const k of view.values()) keys += k.size
  return {
    yaml: doc.toString({lineWidth: 0}),
    users: view.size,
    keys,
    omitted: [...callerKeys, ...omitted].map((o) => ({address: `${o.email}/${o.key.name}`, uid: o.key.uid, why: o.why})),
    ...(defaultExpiresIn ? {defaultExpiresIn} : {}),
  }
}

/** A key's lifetime as a file writes it: whole days, or hours under a day; undefined when its creation or expiry is unknown. */
export function lifetimeOf(createdAt: string, expiry: string): string | undefined {
  const ms = Date.parse(expiry) - Date.parse(createdAt)
  if (!Number.isFinite(ms) || ms <= 0) return undefined
  if (ms < DAY - HOUR / 2) return exactDuration(Math.max(1, Math.round(ms / HOUR)) * HOUR)
  return exactDuration(Math.min(MAX_DAYS, Math.round(ms / DAY)) * DAY)
}

/**
 * Replaces each key's expiresAt by its lifetime: the most common one is returned (for
 * defaults.expiresIn, ties to the shorter), and only keys with another get their own expiresIn.
 */
function lifetimes(view: TenantView): string | undefined {
  const of = new Map<KeyView, string>()
  const count = new Map<string, number>()
  for (const keys of view.values()) {
    for (const k of keys.values()) {
      const lifetime = k.live ? lifetimeOf(k.live.createdAt, k.live.expiry) : undefined
      delete k.expiresAt
      if (lifetime === undefined) continue
      of.set(k, lifetime)
      count.set(lifetime, (count.get(lifetime) ?? 0) + 1)
    }
  }
  const hours = (d: string) => Number(d.slice(0, -1)) * (d.endsWith('d') ? 24 : 1)
  const common = [...count].sort(([a, n], [b, m]) => m - n || hours(a) - hours(b))[0]?.[0]
  for (const [k, lifetime] of of) if (lifetime !== common) k.expiresIn = lifetime
  return common
}

/** The caller's keys as YAML lines behind `#`: what to paste under users: to declare them anyway. */
function commentedOut(email: string, keys: Map<string, KeyView>, pinExpiry: boolean): string[] {
  const declarations: Record<string, Record<string, unknown>> = {}
  for (const [name, {note: _note, live, ...fields}] of keys) {
    if (!pinExpiry) {
      delete fields.expiresAt
      const lifetime = live ? lifetimeOf(live.createdAt, live.expiry) : undefined
      if (lifetime) fields.expiresIn = lifetime
    }
    declarations[name] = fields
  }
  const text = new Document({[email]: {keys: declarations}}).toString({lineWidth: 0})
  return [
    ` Not declared: the keys of ${inertText(email)}, the user this export runs as. One of them is the key`,
    ' palette-keys runs with (Palette does not say which), and an apply that rotated, revoked or',
    ' deleted it would lock CI out. To manage them anyway (another credential runs apply), move',
    ' these lines under users: (or export with --user naming that user):',
    ...text.trimEnd().split('\n').map((line) => `   ${inertText(line)}`),
  ]
}
