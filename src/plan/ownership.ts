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
/**
 * Under seal custody `mark`: set at creation (with the create's nonce), cleared once the value
 * is sealed, so a key still carrying it has no known value. Under `folder` the sealed file is
 * the proof instead, and a create spends no request on a mark (NONCE).
 */
export const PENDING = 'paletteKeysPending'
/**
 * Under seal custody `folder`: the create's nonce, set with the POST and never cleared. It finds
 * the key a create made when the answer's uid is doubtful (one key list for a batch of creates);
 * it says nothing about the value, which is kept if and only if its sealed file is in the folder.
 */
export const NONCE = 'paletteKeysNonce'
/**
 * Set at creation under seal custody `folder`: this key's value was made by palette-keys and must
 * have a sealed file in the seal folder. Adopted keys (made by hand) never carry it, nor do keys
 * created before custody existed: neither is ever found value-lost. Like every mark, a claim that
 * speaks only for its own key: set by hand, it can only get that key replaced.
 */
export const CUSTODY = 'paletteKeysCustody'
export const CUSTODY_FOLDER = 'folder'
/** Set on a predecessor retired by a rotation (RFC 3339 time); deleted after policy.deleteRetiredAfter. Written by versions before the RETIRING mark. */
export const RETIRED_AT = 'paletteKeysRetiredAt'
/**
 * Set by a rotation's one annotation write (RFC 3339 time), which also renames the predecessor out
 * of its successor's way and gives it a NAME mark: until a successor that is kept (sealed) names
 * it, the key still stands for its declared name, so a crash before the successor's seal loses
 * nothing and the next plan rotates again. Once revoked, or named by a kept successor, it is
 * retired as of that time (the revoke is the rotation's last request; no further write).
 */
export const RETIRING = 'paletteKeysRetiring'
/** Set on a rotation successor: the uid of the key it replaces, so a crash between the two steps is recognisable. */
export const SUCCEEDS = 'paletteKeysSucceeds'
/** Set on the new owner's key of a replace (a move): the uid of the old owner's key, deleted once the new one is sealed. */
export const REPLACES = 'paletteKeysReplaces'

/**
 * Set at creation on a key declared with `rotate: N`: the generation it was made for. Whoever holds
 * a key can rewrite its marks, so under seal custody `folder` the generation is read from the key's
 * sealed file name instead (NAME--UID.gN.age), which only CI's commit-back puts in the repository;
 * the mark speaks for keys without one (adopted keys, custody `mark`).
 */
export const GENERATION = 'paletteKeysGeneration'
/**
 * Set once every declared delivery target holds the key's value (deliver/targets.ts deliveryId,
 * comma-separated). A key palette-keys made whose mark lacks a declared target was sealed but not
 * delivered (a failure, or a kill between the seal and the delivery): its value cannot be read
 * again in CI, so a new one is made, and a predecessor is revoked only once its successor is
 * delivered. Set by hand on one's own key, it can only skip that key's deliveries.
 */
export const DELIVERED = 'paletteKeysDelivered'
/**
 * Set at creation: the fingerprints (seal/recipients.ts, comma-separated) of the recipients the
 * value was sealed to, as the sealed file's header records them too. Evidence for a rotation when
 * one is removed (policy.rotateOnRecipientRemoval): the plan takes the union of the file's record
 * and this mark, so dodging a rotation takes forging both, a reviewed commit to the seal folder and
 * a write with the key itself. Set by hand, it can only get its own key rotated.
 */
export const SEALED_TO = 'paletteKeysSealedTo'

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

/**
 * What a key's own marks say. `isActive` (default true) matters only for a RETIRING mark: a
 * rotation revokes its predecessor last, so a revoked one is retired; an active one is retired
 * only once a kept successor names it (supersededUids).
 */
export function ownershipOf(annotations: Record<string, string>, isActive = true): Ownership {
  if (annotations[MANAGED_BY] !== MANAGED_BY_VALUE) return 'unmanaged'
  if (annotations[PENDING] !== undefined) return 'pending'
  if (annotations[RETIRED_AT] !== undefined || (annotations[RETIRING] !== undefined && !isActive)) return 'retired'
  return 'managed'
}

/** When a retired key was retired: its RETIRED_AT mark, else its RETIRING one (NaN if neither is a time). */
export function retiredAtOf(annotations: Record<string, string>): string | undefined {
  return annotations[RETIRED_AT] ?? annotations[RETIRING]
}

interface MarkedKey {
  uid: string
  name: string
  userUid: string
  isActive?: boolean
  annotations: Record<string, string>
}

/**
 * The predecessor a key's SUCCEEDS mark names, if the mark may be honoured: the predecessor
 * has the successor's owner and (intended) name and is itself a key palette-keys manages. A mark
 * can thus never reach another user's key, a key made by hand, nor another declared key.
 */
export function predecessorOf<K extends MarkedKey>(k: K, byUid: ReadonlyMap<string, K>): K | undefined {
  const uid = k.annotations[SUCCEEDS]
  if (uid === undefined || uid === k.uid || ownershipOf(k.annotations, k.isActive) !== 'managed') return undefined
  const p = byUid.get(uid)
  return p && p.userUid === k.userUid && intendedName(p) === intendedName(k) && ownershipOf(p.annotations, p.isActive) !== 'unmanaged' ? p : undefined
}

/**
 * The predecessors of rotations whose successor is kept, each with that successor: keys named by a live managed
 * successor's SUCCEEDS mark (predecessorOf), when `kept(successor)` says its value is in
 * custody. A successor whose value is not (no sealed file yet under seal custody `folder`)
 * supersedes nothing: retiring its predecessor then would leave no working value. (The diff
 * acts on them only for users the file declares.) `byUid`: the same keys by uid, when the caller has indexed them.
 */
export function supersededUids<K extends MarkedKey>(keys: ReadonlyArray<K>, kept: (k: K) => boolean = () => true, byUid: ReadonlyMap<string, K> = new Map(keys.map((k) => [k.uid, k]))): Map<string, K> {
  // Each predecessor with the successor that names it (the newest, should two).
  const out = new Map<string, K>()
  for (const k of keys) {
    const p = predecessorOf(k, byUid)
    if (p && kept(k)) out.set(p.uid, k)
  }
  return out
}
