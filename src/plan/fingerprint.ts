import {hash} from 'node:crypto'
import type {LiveKey} from '../live/snapshot.js'
import {CUSTODY, DELIVERED, GENERATION, MANAGED_BY, NAME, PENDING, REPLACES, RETIRED_AT, RETIRING, SUCCEEDS} from './ownership.js'

/**
 * What a plan depends on of a key, as one string: its identity, owner, expiry and state, the
 * description, and the annotations palette-keys writes. Palette's own annotations (scope,
 * permissions, ...) and other tools' are left out: no action depends on them, and an update
 * sends the ones it finds at apply time. Reading these fields costs a fraction of serialising
 * every annotation, which was most of the plan's own time at 10,000 keys.
 */
function canonical(k: LiveKey): string {
  const a = k.annotations
  return `${k.uid}\u0001${k.name}\u0001${k.userUid}\u0001${k.expiry}\u0001${k.isActive}\u0001${k.description}\u0001${a[MANAGED_BY]}\u0001${a[PENDING]}\u0001${a[RETIRED_AT]}\u0001${a[SUCCEEDS]}\u0001${a[REPLACES]}\u0001${a[NAME]}\u0001${a[CUSTODY]}\u0001${a[RETIRING]}\u0001${a[GENERATION]}\u0001${a[DELIVERED]}`
}

/** A short hash of a key: any change that matters to a plan alters it. */
export function keyFingerprint(k: LiveKey): string {
  return hash('sha256', canonical(k)).slice(0, 16)
}

/** A hash of the whole set of live keys, whatever order Palette lists them in: one hash, not one per key. */
export function liveFingerprint(keys: LiveKey[]): string {
  // Sorting the keys by uid (flat strings) is several times cheaper than sorting the built lines.
  const sorted = [...keys].sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0))
  return hash('sha256', sorted.map((k) => canonical(k) + '\n').join(''))
}
