import {cmp, type DesiredKey} from '../config/desired-state.js'
import type {LiveKey} from '../live/snapshot.js'
import {fingerprints, recipientFingerprint, recipientLabel} from '../seal/recipients.js'
import type {HeaderReading, SealedToEntry} from '../seal/sealed-file.js'
import type {Finding} from './model.js'
import {SEALED_TO} from './ownership.js'

/**
 * What the sealed files of a key (in its owner's folder) record of their recipients, against the
 * key's list now: `removed`, recipients it was ever sealed to that the list no longer names;
 * `missing`, listed ones it is not sealed to (a reseal would add them); `unrecorded`, why a file
 * says nothing usable.
 */
export interface SealedTo {
  to: SealedToEntry[]
  removed: SealedToEntry[]
  missing: string[]
  unrecorded?: string
}

/**
 * A key's SealedTo from its own mark and its sealed files under `folder` (its owner's, in the seal
 * folder's names; undefined when the owner is unknown) that have a header reading. Undefined when
 * the key has neither (custody speaks of that).
 */
export function sealedToOf(k: LiveKey, key: DesiredKey, folder: string | undefined, candidates: readonly string[] | undefined, sealHeaders: Readonly<Record<string, HeaderReading>>): SealedTo | undefined {
  // The key's own mark, set at its creation: evidence too (a forger must edit it and the file).
  const mark = k.annotations[SEALED_TO]
  if (mark === undefined && candidates === undefined) return undefined
  const marked = (mark ?? '').split(',').filter((fp) => /^[0-9a-f]{16}$/.test(fp))
  const ever = new Map<string, SealedToEntry>(marked.map((fp) => [fp, {fp, label: `recipient ${fp}`, kind: 'x25519'}]))
  const files = (candidates ?? []).filter((f) => folder !== undefined && f.startsWith(folder) && sealHeaders[f] !== undefined)
  const to = new Map<string, SealedToEntry>()
  let unrecorded: string | undefined
  for (const f of files) {
    const reading = sealHeaders[f]!
    if (reading.problem !== undefined) {
      unrecorded = reading.problem
      continue
    }
    for (const e of reading.sealedTo.to) to.set(e.fp, e)
    for (const e of [...reading.sealedTo.to, ...reading.sealedTo.was]) ever.set(e.fp, e)
  }
  if (files.length === 0 && marked.length === 0) return undefined
  const now = new Set(fingerprints(key.recipients))
  const byFp = (a: SealedToEntry, b: SealedToEntry) => cmp(a.fp, b.fp)
  return {
    to: [...to.values()].sort(byFp),
    removed: [...ever.values()].filter((e) => !now.has(e.fp)).sort(byFp),
    // Only what a file says it is sealed to tells who is missing.
    missing: files.length === 0 || unrecorded !== undefined ? [] : key.recipients.filter((r) => !to.has(recipientFingerprint(r))),
    ...(unrecorded === undefined ? {} : {unrecorded}),
  }
}

/**
 * A kept value the plan does not rotate, sealed to other recipients than its list names now:
 * `sealed-to-other-recipients` (a reseal would add the missing ones; a removed one may keep a
 * copy when policy.rotateOnRecipientRemoval is off), or `recipients-unrecorded`; undefined when its
 * files say it is sealed to its list.
 */
export function recipientFinding(s: SealedTo, key: DesiredKey, base: Pick<Finding, 'address' | 'email' | 'name' | 'uid'>): Finding | undefined {
  if (s.unrecorded !== undefined && s.removed.length === 0) {
    return {...base, kind: 'recipients-unrecorded', message: `its sealed file does not say whom it is sealed to (${s.unrecorded}): \`palette-keys reseal\` by a holder of one of its recipients records it; if a recipient has been removed since it was sealed, rotate it (--replace)`}
  }
  if (s.removed.length === 0 && s.missing.length === 0) return undefined
  const parts = [s.to.length > 0 ? `sealed to ${labels(s.to)}` : 'its sealed file does not say whom it is sealed to']
  if (s.missing.length > 0) parts.push(`not to ${s.missing.map(recipientLabel).join(', ')} of ${key.recipientsFrom}: \`palette-keys reseal -i IDENTITY\` by a holder of one of its recipients re-seals it`)
  if (s.removed.length > 0) parts.push(`${labels(s.removed)} ${s.removed.length === 1 ? 'is' : 'are'} no longer listed and may keep a copy: rotate it (--replace), or set policy.rotateOnRecipientRemoval: true`)
  return {...base, kind: 'sealed-to-other-recipients', message: parts.join('; ')}
}

/** Recipients as plans name them (labels, never identities). */
export function labels(entries: SealedToEntry[]): string {
  return entries.map((e) => e.label).join(', ')
}
