import type {LiveState} from '../live/snapshot.js'
import {type Action, type Brake, isDestructive, touchedKey} from './model.js'
import {ownershipOf} from './ownership.js'

/** Below this many managed keys the change-ratio brake does not apply (as octoDNS does). */
const MIN_MANAGED_FOR_RATIO = 10

/** Who the file names: its users (and move sources) by uid, and whether it declares a key of a user (by uid) under a name. */
export interface DeclaredScope {
  userUids: ReadonlySet<string>
  declares(userUid: string, name: string): boolean
}

/**
 * Safety brakes, part of the plan. The change ratio can be forced; locking the caller out
 * (revoking or deleting every active key it has, so surely the one in use) cannot.
 *
 * Marks are claims anybody could have forged, so no mark exempts a change from the ratio:
 * every revoke, delete, replace and rotate counts, except a clean-up delete of a key under a
 * name the file declares for its owner (a pending leftover that is created again, a twin of
 * the key that is kept): the file names that key, and the plan leaves it existing once. The
 * share is of the keys palette-keys manages for the users the file names: marked keys of
 * anybody else cannot dilute it. Keys of owners who are no longer users, that policy.orphanedKeys
 * revokes or deletes, count in both, and with any of them the ratio holds below 10 keys too.
 */
export function brakes(actions: Action[], live: LiveState, maxChangeRatio: number, now: Date, declared: DeclaredScope): Brake[] {
  const out: Brake[] = []
  let managed = 0
  for (const k of live.keys) if (declared.userUids.has(k.userUid) && ownershipOf(k.annotations) !== 'unmanaged') managed++
  const named = (a: Action) => a.kind === 'delete' && a.cleanup === true && declared.declares(a.key.userUid, a.key.name)
  // Keys of owners who are no longer users, that policy.orphanedKeys revokes or deletes: they join the share's base too.
  const users = new Set(live.users.map((u) => u.uid))
  const orphans = actions.filter((a) => isDestructive(a) && !users.has(touchedKey(a)?.userUid ?? '')).length
  // Keys of users the file no longer names, that policy.undeclaredUsers revokes or deletes: likewise.
  const leavers = actions.filter((a) => isDestructive(a) && users.has(touchedKey(a)?.userUid ?? '') && !declared.userUids.has(touchedKey(a)!.userUid)).length
  managed += orphans + leavers
  const destructive = actions.filter((a) => isDestructive(a) && !named(a)).length
  // Orphan actions rest on server answers about people, not on the file: they are held to the ratio at any tenant size.
  if ((managed >= MIN_MANAGED_FOR_RATIO || orphans > 0) && destructive / managed > maxChangeRatio) {
    out.push({
      code: 'max-change-ratio',
      forceable: true,
      message: `${destructive} of ${managed} managed keys${outside(orphans, leavers)} would be revoked, deleted, replaced or rotated (${pct(destructive / managed)}), above policy.maxChangeRatio ${pct(maxChangeRatio)}. Review the plan, then pass --force to go ahead.`,
    })
  }
  const lost = new Set(actions.filter(isDestructive).map((a) => touchedKey(a)?.uid))
  const callerActive = live.keys.filter((k) => k.userUid === live.caller.uid && k.isActive && !(Date.parse(k.expiry) <= now.getTime()))
  const callerLost = callerActive.filter((k) => lost.has(k.uid))
  if (callerActive.length > 0 && callerLost.length === callerActive.length) {
    out.push({
      code: 'self-lockout',
      forceable: false,
      message: `The plan would revoke or delete all ${callerActive.length} active key${callerActive.length === 1 ? '' : 's'} of ${live.caller.email || live.caller.uid}, the caller, so surely the key palette-keys is using. Keep one active key of the caller out of the plan, or run it with another admin's key (--force does not lift this).`,
    })
  }
  return out
}

function outside(orphans: number, leavers: number): string {
  const parts = [orphans > 0 ? `${orphans} of them keys of removed owners, under policy.orphanedKeys` : '', leavers > 0 ? `${leavers} of them keys of users the file no longer names, under policy.undeclaredUsers` : ''].filter(Boolean)
  return parts.length > 0 ? ` (${parts.join('; ')})` : ''
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`
}

/**
 * What --rotations-only lets through without review: rotations (a key's expiry or rotateBefore,
 * a lost or undelivered value, a `rotate` generation, --replace, an interrupted rotation) and
 * palette-keys' clean-up of its own keys. Everything else answers the file or the live state in
 * a way a person should see first: a create, an edit, a reactivation (a key revoked by hand during
 * an incident), a revoke or delete of a declared or a person's key, a move.
 */
export function needsReview(a: Action): boolean {
  switch (a.kind) {
    case 'no-op':
    case 'rotate':
      return false
    case 'revoke':
    case 'delete':
      return a.cleanup !== true
    default:
      return true
  }
}

export function rotationsOnlyBrake(actions: Action[]): Brake | undefined {
  const held = actions.filter(needsReview)
  if (held.length === 0) return undefined
  const shown = held.slice(0, 5).map((a) => `${a.kind} ${a.address}`).join(', ')
  return {
    code: 'rotations-only',
    forceable: false,
    message: `--rotations-only: ${held.length} change${held.length === 1 ? '' : 's'} of this plan need${held.length === 1 ? 's' : ''} review (${shown}${held.length > 5 ? `, and ${held.length - 5} more` : ''}); only rotations and palette-keys' own clean-up run unreviewed. Plan it in a pull request and apply the reviewed plan (--force does not lift this).`,
  }
}
