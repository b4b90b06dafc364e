import type {AuthFailureStatus} from '../contract/palette.js'

/**
 * How the emulated tenant reads the parts of the spec NOTES.md marks UNCERTAIN: each reading a
 * real Palette may have, so the suites can prove the client works under all of them.
 */
export interface Fidelity {
  /** What a create's `uid` holds: the new key's uid, the owner's uid (the spec says "User uid"), or nothing. */
  createUid: 'key' | 'user' | 'absent'
  /** An update's annotations: merged over the server's own, replacing the whole map, or refused when a server-set one is sent. */
  updateAnnotations: 'merge' | 'replace' | 'reject'
  /** The status a refused credential is answered with (404 with ResourceNotFound, as the Go SDK's history suggests). */
  authFailure: AuthFailureStatus
  /**
   * The permission that lets a caller list every user's keys: undefined for every apiKey
   * permission (an admin), or one such as `apiKey.list`, which Palette's docs give Tenant Viewer.
   */
  listKeysWith?: string
  /** Cut every list without listmeta (apiKeys, users/meta, users/summary) to this many items, saying nothing. */
  listLimit?: number
  /** Whether two keys may share a name: yes (`none`), not within one user's keys, or not within the tenant (revoked keys count). */
  uniqueKeyNames: 'none' | 'user' | 'tenant'
}

export const DEFAULT_FIDELITY: Fidelity = {createUid: 'key', updateAnnotations: 'merge', authFailure: 401, uniqueKeyNames: 'none'}
