/**
 * The annotations palette-keys writes on keys it creates. Plain camelCase keys, like
 * Palette's own `ownerUid`, kept small. Whether a real tenant keeps custom annotations is
 * unverified (README): if they were dropped, every key would look unmanaged and nothing
 * would be deleted, which is the safe failure.
 *
 * Any tenant user can set any annotation on their own keys, so a mark is a claim, never an
 * instruction: it speaks only for the key that carries it, and a mark naming another key
 * (SUCCEEDS, REPLACES) is honoured only under the rules below.
 */
export const MANAGED_BY = 'managedBy'
export const MANAGED_BY_VALUE = 'palette-keys'
/** Set at creation, cleared once the value is sealed: a key still carrying it has no known value. */
export const PENDING = 'paletteKeysPending'
/**
 * Set at creation under seal custody `folder`: this key's value was made by palette-keys and must
 * have a sealed file in the seal folder. Adopted keys (made by hand) never carry it, nor do keys
 * created before custody existed: neither is ever found value-lost. Like every mark, a claim that
 * speaks only for its own key: set by hand, it can only get that key replaced.
 */
export const CUSTODY = 'paletteKeysCustody'
export const CUSTODY_FOLDER = 'folder'
/** Set on a predecessor retired by a rotation (RFC 3339 time); deleted after policy.deleteRetiredAfter. */
export const RETIRED_AT = 'paletteKeysRetiredAt'
/** Set on a rotation successor: the uid of the key it replaces, so a crash between the two steps is recognisable. */
export const SUCCEEDS = 'paletteKeysSucceeds'
/** Set on the new owner's key of a replace (a move): the uid of the old owner's key, deleted once the new one is sealed. */
export const REPLACES = 'paletteKeysReplaces'

/**
 * Set on a key created under a transient name (a rotation's successor, a moved key): the
 * declared name it takes once the key that holds that name is gone. Palette may require key
 * names to be unique, per user or per tenant (v1ObjectMeta: "Name must be unique within a
 * namespace"; UNCERTAIN), so no key is ever created under a name a live key holds.
 */
export const NAME = 'paletteKeysName'

/** The name a rotation's successor or a moved key is created under: the declared name and a part of the uid of the key it replaces. */
export function transientName(name: string, replacedUid: string): string {
  return `${name}-next-${replacedUid.slice(0, 8)}`
}

/** The name a retired predecessor takes, so that its successor can take the declared one. */
export function retiredName(name: string, uid: string): string {
  return `${name}-retired-${uid.slice(0, 8)}`
}

/** The name a key palette-keys manages stands for: its NAME mark while it carries a transient name, else its own. */
export function intendedName(k: MarkedKey): string {
  const mark = k.annotations[NAME]
  return mark !== undefined && mark !== '' && ownershipOf(k.annotations) !== 'unmanaged' ? mark : k.name
}

export type Ownership = 'unmanaged' | 'managed' | 'pending' | 'retired'

export function ownershipOf(annotations: Record<string, string>): Ownership {
  if (annotations[MANAGED_BY] !== MANAGED_BY_VALUE) return 'unmanaged'
  if (annotations[PENDING] !== undefined) return 'pending'
  if (annotations[RETIRED_AT] !== undefined) return 'retired'
  return 'managed'
}

interface MarkedKey {
  uid: string
  name: string
  userUid: string
  annotations: Record<string, string>
}

/**
 * The predecessors of interrupted rotations: keys named by a live managed successor's
 * SUCCEEDS mark, honoured only when the predecessor has the successor's owner and (intended) name and
 * is itself a key palette-keys manages. A mark can thus never reach another user's key, a
 * key made by hand, nor another declared key. (The diff acts on them only for users the file
 * declares.)
 */
export function supersededUids(keys: ReadonlyArray<MarkedKey>): Set<string> {
  const byUid = new Map<string, MarkedKey>()
  for (const k of keys) byUid.set(k.uid, k)
  const out = new Set<string>()
  for (const k of keys) {
    const predecessor = k.annotations[SUCCEEDS]
    if (predecessor === undefined || predecessor === k.uid || ownershipOf(k.annotations) !== 'managed') continue
    const p = byUid.get(predecessor)
    if (p && p.userUid === k.userUid && p.name === intendedName(k) && ownershipOf(p.annotations) !== 'unmanaged') out.add(predecessor)
  }
  return out
}
