import {createHash} from 'node:crypto'
import type {LiveKey} from '../live/snapshot.js'

/** A short hash of everything palette-keys reads of a key: any change by anyone alters it. */
export function keyFingerprint(k: LiveKey): string {
  const annotations = Object.entries(k.annotations).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return sha256(JSON.stringify([k.uid, k.name, k.userUid, k.expiry, k.isActive, annotations])).slice(0, 16)
}

/** A hash of the whole set of live keys. */
export function liveFingerprint(keys: LiveKey[]): string {
  return sha256(
    keys
      .map(keyFingerprint)
      .sort()
      .join('\n'),
  )
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex')
}
