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

/**
 * A hash of the whole set of live keys, whatever order Palette lists them in: SHA-256 of the
 * sorted SHA-256 digests of the keys (each begins with the key's uid, so no two keys share one).
 * Sorting 64-character digests, which differ at once, with the engine's own string sort is 2.5 to
 * 4 times cheaper than sorting the keys by uid with a comparator (100,000 keys: 0.6-0.8 s -> 0.2-0.3 s).
 */
export function liveFingerprint(keys: LiveKey[]): string {
  return hash('sha256', keys.map((k) => hash('sha256', canonical(k))).sort().join('\n'))
}
