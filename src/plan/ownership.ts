/**
 * The annotations palette-keys writes on keys it creates. Plain camelCase keys, like
 * Palette's own `ownerUid`, kept small. Whether a real tenant keeps custom annotations is
 * unverified (README): if they were dropped, every key would look unmanaged and nothing
 * would be deleted, which is the safe failure.
 */
export const MANAGED_BY = 'managedBy'
export const MANAGED_BY_VALUE = 'palette-keys'
/** Set at creation, cleared once the value is sealed: a key still carrying it has no known value. */
export const PENDING = 'paletteKeysPending'
/** Set on a predecessor retired by a rotation (RFC 3339 time); deleted after policy.deleteRetiredAfter. */
export const RETIRED_AT = 'paletteKeysRetiredAt'

export type Ownership = 'unmanaged' | 'managed' | 'pending' | 'retired'

export function ownershipOf(annotations: Record<string, string>): Ownership {
  if (annotations[MANAGED_BY] !== MANAGED_BY_VALUE) return 'unmanaged'
  if (annotations[PENDING] !== undefined) return 'pending'
  if (annotations[RETIRED_AT] !== undefined) return 'retired'
  return 'managed'
}
/** Set on a rotation successor: the uid of the key it replaces, so a crash between the two steps is recognisable. */
export const SUCCEEDS = 'paletteKeysSucceeds'

/**
 * Keys whose removal is clean-up, not a change anyone relies on: left pending by an
 * interrupted apply (nobody holds the value), retired by a rotation, or the predecessor
 * named by a live successor (an interrupted rotation).
 */
export function cleanupUids(keys: ReadonlyArray<{uid: string; annotations: Record<string, string>}>): Set<string> {
  const superseded = supersededUids(keys)
  const leftOver = (o: Ownership) => o === 'pending' || o === 'retired'
  return new Set(keys.filter((k) => leftOver(ownershipOf(k.annotations)) || superseded.has(k.uid)).map((k) => k.uid))
}

/** The predecessors named by a live managed successor: an interrupted rotation's leftovers. */
export function supersededUids(keys: ReadonlyArray<{annotations: Record<string, string>}>): Set<string> {
  const out = new Set<string>()
  for (const k of keys) {
    const predecessor = k.annotations[SUCCEEDS]
    if (predecessor && ownershipOf(k.annotations) === 'managed') out.add(predecessor)
  }
  return out
}
