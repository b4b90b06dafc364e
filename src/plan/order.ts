import {type Action, isDestructive, touchedKey, touchesUser} from './model.js'
import {pushTo} from '../util/group.js'

/**
 * The order apply runs actions in, shared by the executor and the key-limit check so that the
 * check counts what will really happen.
 *
 * Actions are grouped in lanes, one per user whose key count they change (a replace belongs to
 * the user it creates a key for). Lanes of other users run side by side; one lane runs one
 * action at a time, so its key count moves step by step. The caller's own lane runs last:
 * non-destructive actions first, destructive ones at the very end (one of them may be the key
 * in use), except the clean-up delete of a leftover whose name is given again, first. Any other lane frees slots before it takes them: deletes first, then rotations
 * that delete their predecessor (a slot for a moment), then the rest in plan order.
 */
export interface Lanes {
  /** Other users' lanes, by user uid, in plan order of their first action. */
  others: Map<string, Action[]>
  /** The caller's own actions, in the order they run. */
  own: Action[]
}

export function laneUser(a: Action): string {
  if (a.kind === 'create' || a.kind === 'replace') return a.target.userUid
  return touchedKey(a)?.userUid ?? ''
}

function freesFirst(a: Action): number {
  if (a.kind === 'delete') return 0
  if (a.kind === 'rotate' && a.retire === 'delete') return 1
  return 2
}

export function lanes(actions: Action[], callerUid: string): Lanes {
  const work = actions.filter((a) => a.kind !== 'no-op')
  const mine = (a: Action) => touchesUser(a, callerUid)
  const own = work.filter(mine)
  const others = new Map<string, Action[]>()
  for (const a of work) {
    if (mine(a)) continue
    pushTo(others, laneUser(a), a)
  }
  handOverNames(others)
  // Array.prototype.sort is stable: plan order is kept within each rank.
  for (const lane of others.values()) lane.sort((a, b) => freesFirst(a) - freesFirst(b))
  // A clean-up delete of a key under a name the caller's lane gives again, by a create or a rename (a pending leftover or
  // a retired key: nobody works with its value, so it is not the key in use), runs first: Palette may refuse a second key of one name.
  const created = new Set(own.flatMap(namesGiven))
  const frees = (a: Action) => a.kind === 'delete' && a.cleanup === true && created.has(a.key.name)
  return {others, own: [...own.filter(frees), ...own.filter((a) => !isDestructive(a)), ...own.filter((a) => isDestructive(a) && !frees(a))]}
}

/** The names an action gives a key of its lane's user: the name it creates under, and the one it renames to. */
function namesGiven(a: Action): string[] {
  switch (a.kind) {
    case 'create':
    case 'replace':
    case 'rotate':
      return [...new Set([a.target.createAs ?? a.target.name, a.target.name])]
    case 'update':
      return a.changes.flatMap((c) => (c.field === 'name' ? [c.after] : []))
    default:
      return []
  }
}

/**
 * Whether Palette keeps key names unique within the whole tenant is UNCERTAIN (README, row 7). When
 * one user's lane gives a key a name that another user's lane deletes (the old key of an
 * interrupted move, say), the delete joins the lane that takes the name, where deletes run first:
 * lanes run side by side, so otherwise the rename could reach Palette while the old key still holds
 * the name. The caller's lane is never a source or a target: it runs after every other lane, and
 * its deletes (one may be the key in use) stay at its end.
 */
function handOverNames(others: Map<string, Action[]>): void {
  // Which lanes hold a delete of each name, and each lane's place in `others`: a lane that gives
  // names looks only at the lanes holding deletes of them (a scan of every lane for every lane was
  // quadratic: 10,000 creates, 1.1 s), in the order the scan would have met them.
  const place = new Map([...others.keys()].map((u, i) => [u, i]))
  const holders = new Map<string, Set<string>>()
  const hold = (name: string, user: string) => {
    const set = holders.get(name)
    if (set) set.add(user)
    else holders.set(name, new Set([user]))
  }
  for (const [user, lane] of others) for (const a of lane) if (a.kind === 'delete') hold(a.key.name, user)
  for (const [user, lane] of others) {
    const wanted = new Set(lane.flatMap(namesGiven))
    if (wanted.size === 0) continue
    const sources = new Set<string>()
    for (const name of wanted) for (const from of holders.get(name) ?? []) if (from !== user) sources.add(from)
    for (const from of [...sources].sort((a, b) => place.get(a)! - place.get(b)!)) {
      const source = others.get(from)
      if (!source) continue
      for (let i = source.length - 1; i >= 0; i--) {
        const a = source[i]!
        if (a.kind === 'delete' && wanted.has(a.key.name)) {
          lane.unshift(...source.splice(i, 1))
          hold(a.key.name, user)
        }
      }
      for (const name of wanted) if (!source.some((a) => a.kind === 'delete' && a.key.name === name)) holders.get(name)?.delete(from)
      if (source.length === 0) others.delete(from)
    }
  }
}

/** The users whose key count an action can move (slotEffect is zero for every other user). */
export function slotUsers(a: Action): string[] {
  switch (a.kind) {
    case 'create':
      return [a.target.userUid]
    case 'replace':
      return a.target.userUid === a.from.userUid ? [a.target.userUid] : [a.target.userUid, a.from.userUid]
    case 'rotate':
    case 'delete':
      return [a.key.userUid]
    default:
      return []
  }
}

/** How an action changes the key count of `user` while it runs: the peak above the start, and the change at its end. */
export function slotEffect(a: Action, user: string): {peak: number; net: number} {
  switch (a.kind) {
    case 'create':
      return a.target.userUid === user ? {peak: 1, net: 1} : {peak: 0, net: 0}
    case 'replace': {
      // The new key is made first, then the old one (maybe the same user's) deleted.
      const into = a.target.userUid === user ? 1 : 0
      const out = a.from.userUid === user ? 1 : 0
      return {peak: into, net: into - out}
    }
    case 'rotate':
      if (a.key.userUid !== user) return {peak: 0, net: 0}
      // A displaced key (an earlier attempt's successor) is deleted at the end, after the new key is made.
      return {peak: 1, net: (a.retire === 'delete' ? 0 : 1) - (a.displaces ? 1 : 0)}
    case 'delete':
      return a.key.userUid === user ? {peak: 0, net: -1} : {peak: 0, net: 0}
    default:
      return {peak: 0, net: 0}
  }
}
