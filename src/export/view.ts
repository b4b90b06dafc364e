import {hasUnsafe, inertText} from '../render/inert.js'
import {Document, isMap, isPair, isScalar, type YAMLMap} from 'yaml'
import {cmp, type DesiredState} from '../config/desired-state.js'
import type {LiveKey, LiveState, LiveUser} from '../live/snapshot.js'
import {ownershipOf} from '../plan/ownership.js'
import {pushTo} from '../util/group.js'

/** One key as the desired-state file writes it. */
export interface KeyView {
  description?: string
  expiresAt?: string
  active?: false
  adopt?: true
  expiresIn?: string
  /** Shown as a comment above the key (export only). */
  note?: string
  /** The live key it was read from (never written). */
  live?: LiveKey
}

/** email → key name → key: the shape both `export` and `audit`'s diff render. */
export type TenantView = Map<string, Map<string, KeyView>>

export interface LiveViewResult {
  view: TenantView
  /** Keys left out, with why (a comment in the export). */
  omitted: Array<{email: string; key: LiveKey; why: string}>
}

/**
 * The live keys of `emails` as declarations. Keys palette-keys did not create get
 * `adopt: true`; pending and retired keys are left out (the plan handles them); of twins
 * only the oldest is written (a mapping cannot hold both); an expired key that is active
 * and unmanaged is left out (declaring it would rotate it).
 */
export function liveView(live: LiveState, emails: string[], now: Date): LiveViewResult {
  const view: TenantView = new Map()
  const omitted: LiveViewResult['omitted'] = []
  // Indexed once: a lookup per e-mail over all users and keys was quadratic in the tenant.
  const usersByEmail = new Map<string, LiveUser>()
  for (const u of live.users) if (!usersByEmail.has(u.email.toLowerCase())) usersByEmail.set(u.email.toLowerCase(), u)
  const keysByUser = new Map<string, LiveKey[]>()
  for (const k of live.keys) pushTo(keysByUser, k.userUid, k)
  for (const email of [...emails].sort((a, b) => cmp(a.toLowerCase(), b.toLowerCase()))) {
    const user = usersByEmail.get(email.toLowerCase())
    if (!user) continue
    const keys = new Map<string, KeyView>()
    view.set(user.email, keys)
    const mine = [...(keysByUser.get(user.uid) ?? [])].sort((a, b) => cmp(a.createdAt, b.createdAt) || cmp(a.uid, b.uid))
    for (const k of mine) {
      const ownership = ownershipOf(k.annotations, k.isActive)
      const expired = k.expiry !== '' && Date.parse(k.expiry) <= now.getTime()
      if (ownership === 'pending') omitted.push({email: user.email, key: k, why: 'left by an interrupted apply (its value was never sealed): the next apply deletes it'})
      else if (ownership === 'retired') omitted.push({email: user.email, key: k, why: 'retired by a rotation: deleted after policy.deleteRetiredAfter'})
      else if (!declarableName(k.name)) omitted.push({email: user.email, key: k, why: 'its name cannot be declared in a desired-state file (empty, too long, a slash, spaces at an end, or control or invisible characters): rename it in Palette'})
      else if (keys.has(k.name)) omitted.push({email: user.email, key: k, why: `a second key named "${inertText(k.name)}": delete or rename one of the twins in Palette`})
      else if (expired && k.isActive && ownership === 'unmanaged') omitted.push({email: user.email, key: k, why: 'expired (not created by palette-keys): declaring it would rotate it'})
      else {
        const v: KeyView = {}
        if (k.description) v.description = k.description
        if (k.expiry && !expired) v.expiresAt = k.expiry
        if (!k.isActive) v.active = false
        if (ownership === 'unmanaged') v.adopt = true
        const created = k.createdAt ? `created ${k.createdAt.slice(0, 10)}` : 'creation date unknown'
        v.live = k
        v.note = `uid ${k.uid}, ${created}, ${ownership === 'unmanaged' ? 'not created by palette-keys (adopted on the next apply)' : 'managed by palette-keys'}${expired ? '; expired: the next apply rotates it' : ''}`
        keys.set(k.name, v)
      }
    }
  }
  // Keys of owners who are no longer users (removed through SSO) cannot be declared: there is no e-mail to declare them under.
  const known = new Set(live.users.map((u) => u.uid))
  for (const k of live.keys) {
    if (!known.has(k.userUid) && k.userUid !== live.caller.uid) omitted.push({email: k.userUid, key: k, why: `its owner (uid ${k.userUid}) is no longer a user of the tenant, but the key remains${k.isActive ? ' and still authenticates' : ''}: policy.orphanedKeys decides what plan does with it`})
  }
  return {view, omitted}
}

/** The declared keys of a desired-state file, in the same shape (no notes). */
export function desiredView(desired: DesiredState): TenantView {
  const view: TenantView = new Map()
  for (const u of desired.users) {
    const keys = new Map<string, KeyView>()
    for (const k of u.keys) {
      const v: KeyView = {}
      if (k.description) v.description = k.description
      if (k.expiry.kind === 'at') v.expiresAt = k.expiry.at
      if (!k.active) v.active = false
      keys.set(k.name, v)
    }
    view.set(u.email, keys)
  }
  return view
}

/** Renders a view as the `users:` mapping of a desired-state file, notes as comments. */
export function viewDocument(view: TenantView, head: Record<string, unknown> = {}): Document {
  const users: Record<string, {keys: Record<string, Omit<KeyView, 'note' | 'live'>>}> = {}
  for (const [email, keys] of view) {
    users[email] = {keys: {}}
    const byName = [...keys].sort(([a], [b]) => cmp(a, b))
    for (const [name, {note: _note, live: _live, ...fields}] of byName) users[email].keys[name] = fields
  }
  const doc = new Document({...head, users})
  for (const [email, keys] of view) {
    const map = doc.getIn(['users', email, 'keys'], true)
    if (!isMap(map)) continue
    for (const pair of (map as YAMLMap).items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue
      const note = keys.get(String(pair.key.value))?.note
      if (note) pair.key.commentBefore = ` ${note}`
    }
  }
  return doc
}

/** What the desired-state schema accepts as a key name (1 to 255 characters, no slash, no spaces at an end), and nothing a terminal would act on. */
function declarableName(name: string): boolean {
  return name.length >= 1 && name.length <= 255 && /^[^\s/](.*[^\s])?$/s.test(name) && !name.includes('/') && !hasUnsafe(name)
}
