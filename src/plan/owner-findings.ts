import type {DesiredState} from '../config/desired-state.js'
import {formatDuration} from '../config/duration.js'
import type {LiveKey, LiveState, LiveUser} from '../live/snapshot.js'
import {type Action, type Finding, type KeyRef, isDestructive, touchedKey} from './model.js'
import type {Ownership} from './ownership.js'

/** What the owner findings need to know of a live key, as the diff judges it. */
export interface KeyReader {
  owner(userUid: string): LiveUser | undefined
  /** The key's ownership, with what the diff knows beyond its marks (abandoned, superseded). */
  ownership(k: LiveKey): Ownership
  ref(k: LiveKey): KeyRef
  /** A key held back while its successor waits for its sealed file: no word about it yet. */
  waiting(k: LiveKey): boolean
}

/** Findings to add to the plan, and the actions policy asks for with them. */
export interface Additions {
  findings: Finding[]
  actions: Action[]
}

/**
 * What the owner of a key says about it, for every key the caller can see: a key whose owner
 * is no longer a user of the tenant (removed through SSO: its key stays, and still
 * authenticates) is `orphaned-owner`, revoked or deleted too under policy.orphanedKeys; an
 * active key of a disabled user is `owner-disabled`; of a user who has not signed in within
 * policy.ownerInactiveAfter, `owner-inactive`. The status comes from one users/summary
 * answer (no request per user); when it could not be read, only orphans are found.
 */
export function ownersOfKeys(desired: DesiredState, live: LiveState, planned: readonly Action[], keys: KeyReader, nowMs: number): Additions {
  const out: Additions = {findings: [], actions: []}
  const policy = desired.policy
  // A key this plan retires needs no word about its owner.
  const retiring = new Set(planned.filter(isDestructive).map((a) => touchedKey(a)?.uid))
  const after = policy.ownerInactiveAfterMs
  /** Whether an owner's state can give a usable key of theirs a finding (most owners' cannot: their keys are passed over at once). */
  const speaksOf = (owner: LiveUser) => owner.active === false || (after !== undefined && owner.lastSignIn !== undefined && (owner.lastSignIn === '' || Date.parse(owner.lastSignIn) < nowMs - after))
  for (const k of live.keys) {
    const owner = keys.owner(k.userUid)
    if (owner && !speaksOf(owner)) continue
    if (retiring.has(k.uid) || keys.ownership(k) === 'pending' || keys.waiting(k)) continue
    const usable = k.isActive && !(k.expiry !== '' && Date.parse(k.expiry) <= nowMs)
    if (!owner) {
      const state = `${k.isActive ? 'active' : 'revoked'}${k.expiry ? `, expires ${k.expiry.slice(0, 10)}` : ''}`
      if (k.userUid === live.caller.uid) continue
      const check = live.unlistedOwners[k.userUid] ?? {status: 'unconfirmed', note: 'not asked'}
      // Another answer lists them, or GET /v1/users/{uid} found them: users/meta was cut or wrong, the owner is there.
      if (check.status === 'listed' || check.status === 'exists') continue
      const address = `${k.userUid}/${k.name}`
      const removed = check.status === 'removed'
      const acted = policy.orphanedKeys === 'report' ? '' : removed ? `; policy.orphanedKeys: ${policy.orphanedKeys}` : `; policy.orphanedKeys ${policy.orphanedKeys} is not applied: that the owner was removed is unconfirmed (${check.note ?? 'not asked'})`
      out.findings.push({kind: 'orphaned-owner', address, email: '', name: k.name, uid: k.uid, expiresAt: k.expiry || undefined, message: `owner ${k.userUid} is no longer a user of the tenant${removed ? ' (GET /v1/users/{uid} answered 404)' : ''}, but the key remains (${state})${acted}`})
      if (!removed) continue
      if (policy.orphanedKeys === 'delete') out.actions.push({kind: 'delete', address, key: keys.ref(k), reason: 'its owner is no longer a user of the tenant (policy.orphanedKeys: delete)'})
      else if (policy.orphanedKeys === 'revoke' && k.isActive) out.actions.push({kind: 'revoke', address, key: keys.ref(k), reason: 'its owner is no longer a user of the tenant (policy.orphanedKeys: revoke)'})
      continue
    }
    if (!usable) continue
    const address = `${owner.email}/${k.name}`
    if (owner.active === false) {
      out.findings.push({kind: 'owner-disabled', address, email: owner.email, name: k.name, uid: k.uid, expiresAt: k.expiry || undefined, message: `${owner.email} is disabled in Palette, but this key of theirs is active${k.expiry ? ` (expires ${k.expiry.slice(0, 10)})` : ''}`})
    }
    if (after !== undefined && owner.lastSignIn !== undefined && (owner.lastSignIn === '' || Date.parse(owner.lastSignIn) < nowMs - after)) {
      out.findings.push({kind: 'owner-inactive', address, email: owner.email, name: k.name, uid: k.uid, expiresAt: k.expiry || undefined, message: `${owner.email} has ${owner.lastSignIn === '' ? 'never signed in' : `not signed in since ${owner.lastSignIn.slice(0, 10)}`} (policy.ownerInactiveAfter ${formatDuration(after)}), but this key of theirs is active`})
    }
  }
  return out
}

/**
 * Keys palette-keys made for users of the tenant that the file no longer names (removed from
 * it: a leaver, or someone moved to another team's file): `undeclared-user`, revoked or deleted
 * too under policy.undeclaredUsers. Only keys carrying palette-keys' mark are concerned; a key
 * made by hand is never touched, and the mark is a claim its own holder can make, so acting on
 * it reaches no one else's key. The caller's keys are the lockout brake's to guard.
 */
export function undeclaredUsers(desired: DesiredState, live: LiveState, planned: readonly Action[], keys: KeyReader, nowMs: number): Additions {
  const out: Additions = {findings: [], actions: []}
  const policy = desired.policy.undeclaredUsers
  const declared = new Set(desired.users.map((u) => u.email.toLowerCase()))
  // By owner uid, each e-mail lowered once: most keys are declared users' and are passed over at once.
  const declaredUids = new Set(live.users.filter((u) => declared.has(u.email.toLowerCase())).map((u) => u.uid))
  // The marked keys of undeclared users first; then which of them an action already touches (a move's old key), in one pass.
  const candidates = live.keys.filter((k) => {
    if (declaredUids.has(k.userUid)) return false
    const owner = keys.owner(k.userUid)
    return owner !== undefined && !declared.has(owner.email.toLowerCase()) && keys.ownership(k) !== 'unmanaged'
  })
  if (candidates.length === 0) return out
  const uids = new Set(candidates.map((k) => k.uid))
  const acted = new Set<string>()
  for (const a of planned) {
    const uid = touchedKey(a)?.uid
    if (uid !== undefined && uids.has(uid)) acted.add(uid)
  }
  for (const k of candidates) {
    if (acted.has(k.uid)) continue
    const owner = keys.owner(k.userUid)!
    const address = `${owner.email}/${k.name}`
    const expired = k.expiry !== '' && Date.parse(k.expiry) <= nowMs
    const state = `${k.isActive ? (expired ? 'active, expired' : 'active') : 'revoked'}${k.expiry ? ` ${expired ? k.expiry.slice(0, 10) : `until ${k.expiry.slice(0, 10)}`}` : ''}`
    // The key palette-keys runs with may be one of them (CI's own key, taken out of the file): never acted on.
    const own = k.userUid === live.caller.uid
    const act = !own && (policy === 'delete' || (policy === 'revoke' && k.isActive))
    const then = own && policy !== 'report' ? `; policy.undeclaredUsers ${policy} is not applied to the caller's own keys (one may be the key this run uses)` : act ? `; policy.undeclaredUsers ${policy}: ${policy === 'delete' ? 'deleted' : 'revoked'}` : k.isActive ? '; it still authenticates (policy.undeclaredUsers: revoke or delete acts on such keys)' : ''
    out.findings.push({kind: 'undeclared-user', address, email: owner.email, name: k.name, uid: k.uid, expiresAt: k.expiry || undefined, message: `made by palette-keys for ${owner.email}, whom the file no longer names (${state})${then}`})
    if (!act) continue
    const reason = `${owner.email} is no longer in the file (policy.undeclaredUsers: ${policy})`
    out.actions.push(policy === 'delete' ? {kind: 'delete', address, key: keys.ref(k), reason} : {kind: 'revoke', address, key: keys.ref(k), reason})
  }
  return out
}
