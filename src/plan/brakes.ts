import type {LiveState} from '../live/snapshot.js'
import {type Action, type Brake, isDestructive, touchedKey} from './model.js'
import {cleanupUids, ownershipOf} from './ownership.js'

/** Below this many managed keys the change-ratio brake does not apply (as octoDNS does). */
const MIN_MANAGED_FOR_RATIO = 10

/**
 * Safety brakes, part of the plan. The change ratio can be forced; locking the caller out
 * (revoking or deleting every active key it has, so surely the one in use) cannot.
 */
export function brakes(actions: Action[], live: LiveState, maxChangeRatio: number, now: Date): Brake[] {
  const out: Brake[] = []
  // Clean-up neither counts as managed keys nor as destructive.
  const cleanup = cleanupUids(live.keys)
  const managed = live.keys.filter((k) => ownershipOf(k.annotations) === 'managed' && !cleanup.has(k.uid)).length
  const destructive = actions.filter((a) => isDestructive(a) && !cleanup.has(touchedKey(a)?.uid ?? '')).length
  if (managed >= MIN_MANAGED_FOR_RATIO && destructive / managed > maxChangeRatio) {
    out.push({
      code: 'max-change-ratio',
      forceable: true,
      message: `${destructive} of ${managed} managed keys would be revoked, deleted, replaced or rotated (${pct(destructive / managed)}), above policy.maxChangeRatio ${pct(maxChangeRatio)}. Review the plan, then pass --force to go ahead.`,
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

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`
}
