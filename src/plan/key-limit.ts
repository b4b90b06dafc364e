import type {LiveKey, LiveState} from '../live/snapshot.js'
import type {Action, PlanError} from './model.js'
import {lanes, slotEffect, slotUsers} from './order.js'
import type {Ownership} from './ownership.js'
import {pushTo} from '../util/group.js'

/**
 * Palette caps the API keys a user may hold (20 by default; revoked and expired ones are
 * counted, as it is undocumented whether they are). Apply runs each user's actions one at a
 * time, freeing slots before taking them (plan/order.ts), so its peak count per user is known
 * before any change: this simulates it.
 */
export interface OverLimit {
  user: string
  /** Keys the user holds now. */
  held: number
  /** The most the user would hold at once during the apply. */
  peak: number
  /** The actions that move the user's count, in the order apply runs them. */
  lane: Action[]
}

/** The users whose count would pass `perUser` at some step of the apply of `sortedActions` (diff's order). */
export function usersOverLimit(sortedActions: Action[], callerUid: string, heldBy: (user: string) => number, perUser: number): OverLimit[] {
  const {others, own} = lanes(sortedActions, callerUid)
  // A user's count moves in their own lane, then in the caller's, which runs after every other
  // lane (a move into or out of the caller's keys sits there). Decreases that another user's
  // lane makes (a move away from this user) are not counted: when they land is not known.
  // The caller's lane by the users its actions move a count of (slotEffect is zero for any other), in lane order:
  // one pass over it, not one per user.
  const ownFor = new Map<string, Action[]>()
  for (const a of own) {
    for (const u of slotUsers(a)) pushTo(ownFor, u, a)
  }
  const over: OverLimit[] = []
  for (const user of new Set([...others.keys(), callerUid, ...ownFor.keys()])) {
    const lane = [...(user === callerUid ? [] : (others.get(user) ?? [])), ...(ownFor.get(user) ?? [])]
    const held = heldBy(user)
    // Palette refuses a create when the user already holds the limit: only the steps that add a key can pass it.
    let count = held
    let peak = 0
    for (const a of lane) {
      const e = slotEffect(a, user)
      if (e.peak > 0) peak = Math.max(peak, count + e.peak)
      count += e.net
    }
    if (peak > perUser) over.push({user, held, peak, lane})
  }
  return over
}

/** The `key-limit` error for one user over the cap: what they hold, what the plan adds, and what frees a slot. */
export function keyLimitProblem(o: OverLimit, context: {email: string; keys: LiveKey[]; keyLimit: LiveState['keyLimit']; nowMs: number; ownership: (k: LiveKey) => Ownership}): PlanError {
  const {keyLimit: limit, keys, email} = context
  const revoked = keys.filter((k) => !k.isActive).length
  const expired = keys.filter((k) => k.isActive && k.expiry !== '' && Date.parse(k.expiry) <= context.nowMs).length
  const retired = keys.filter((k) => context.ownership(k) === 'retired').length
  const adds = o.lane.filter((a) => slotEffect(a, o.user).peak > 0).length
  const drops = o.lane.filter((a) => slotEffect(a, o.user).net < 0).length
  const source = limit.source === 'tenant' ? 'the tenant\'s limit' : `assumed: ${limit.note}`
  const frees = [
    revoked > 0 ? `delete some of its ${revoked} revoked key${revoked === 1 ? '' : 's'} (in Palette, or make the user exclusive and leave them out of the file)` : '',
    expired > 0 ? `delete its ${expired} expired key${expired === 1 ? '' : 's'}` : '',
    retired > 0 ? `lower policy.deleteRetiredAfter (${retired} retired key${retired === 1 ? ' is' : 's are'} kept until then)` : '',
    'declare fewer keys for this user',
    'or raise the tenant\'s API key limit (Tenant Settings, Resource Limits)',
  ].filter(Boolean)
  return {
    code: 'key-limit',
    message: `${email} would hold ${o.peak} API keys during this apply, more than Palette allows (${limit.perUser} per user; ${source}): ${o.held} live now (${revoked} revoked, ${expired} expired, ${retired} retired), ${adds} action${adds === 1 ? '' : 's'} adding a key, ${drops} deleting one. Nothing is planned, so nothing fails half-way`,
    hint: `To free a slot: ${frees.join('; ')}.`,
  }
}
