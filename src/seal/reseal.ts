import {lstat} from 'node:fs/promises'
import {basename, relative, sep} from 'node:path'
import type {DesiredState} from '../config/desired-state.js'
import {recipientLists} from './lists.js'
import {isLoopback} from '../util/loopback.js'
import {writeFileAtomic} from '../util/atomic-write.js'
import {DEMO_RECIPIENT, fingerprints, recipientLabel} from './recipients.js'
import {encryptRecord, type HeaderReading, NotForUs, type OpeningIdentity, openSealed, readSealedTo, type SealedToEntry, uidOfSealedFileName} from './sealed-file.js'
import {listSealedFiles, readSealedFileText} from './seal-dir.js'

/**
 * What reseal did with one sealed file: `resealed` (or would, with --dry-run), `current` (already
 * sealed to its list), `not-opened` (no given identity opens it), `broken` (unreadable, or it
 * holds another key than its name says), `refused` (its list holds the demo recipient and the
 * value is a real tenant's).
 */
export type ResealStatus = 'resealed' | 'current' | 'not-opened' | 'broken' | 'refused'

export interface ResealEntry {
  /** Relative to the seal folder, '/'-separated. */
  file: string
  status: ResealStatus
  /** USER/NAME: from the record when opened, else from the file's name (data). */
  key?: string
  uid?: string
  /** Labels of the recipients it is sealed to now (resealed, current). */
  to?: string[]
  /** Labels of the recipients it was sealed to before (resealed; absent when its file did not say). */
  before?: string[]
  /** For a file not opened: whether its header says it is sealed to other recipients than its list (a holder of one should reseal it); undefined when it does not say. */
  needsReseal?: boolean
  note?: string
}

export interface ResealReport {
  dir: string
  dryRun: boolean
  counts: Record<ResealStatus, number>
  files: ResealEntry[]
}


/**
 * Re-encrypts every sealed file under `dir` that the identities open to the recipients its key's
 * list names now (the key's, its user's or the file's), in place: same name, atomic, 0600. The
 * new file records whom it is sealed to and, in `was`, whom earlier files of the value were
 * sealed to and this one is not (they may keep a copy: plan still rotates it when one is
 * removed). A record counts only when its uid is its file name's (as unseal). No request is
 * made; nothing is written with `dryRun`.
 */
export async function resealFolder(desired: DesiredState, dir: string, identities: OpeningIdentity[], options: {dryRun: boolean}): Promise<ResealReport> {
  const files: ResealEntry[] = []
  const lists = recipientLists(desired)
  for (const path of await listSealedFiles(dir)) {
    const file = relative(dir, path).split(sep).join('/')
    files.push(await resealOne(lists, path, file, identities, options.dryRun))
  }
  const counts: Record<ResealStatus, number> = {resealed: 0, current: 0, 'not-opened': 0, broken: 0, refused: 0}
  for (const f of files) counts[f.status]++
  return {dir, dryRun: options.dryRun, counts, files}
}

async function resealOne(lists: ReturnType<typeof recipientLists>, path: string, file: string, identities: OpeningIdentity[], dryRun: boolean): Promise<ResealEntry> {
  const read = readSealedFileText(path)
  if (read.text === undefined) return {file, status: 'broken', note: read.unread === 'unreadable' ? `it cannot be read (${read.code})` : 'not a sealed file (not a regular file, or far too large)'}
  const text = read.text
  let opened
  try {
    opened = await openSealed(text, identities)
  } catch (error) {
    if (!(error instanceof NotForUs)) return {file, status: 'broken', note: `it cannot be opened: ${(error as Error).message}`}
    return notOpened(lists, file, await readSealedTo(text))
  }
  const {record, header} = opened
  const key = `${record.user}/${record.name}`
  if (uidOfSealedFileName(basename(path)) !== record.uid) return {file, status: 'broken', key, note: 'it holds the record of another key than its name says (a file renamed or planted): left as it is'}
  const list = lists.forKey(record.user, record.name)
  const base = {file, key, uid: record.uid}
  if (list.recipients.length === 0) return {...base, status: 'refused', note: `${list.from} is empty: nothing to seal it to`}
  if (list.recipients.includes(DEMO_RECIPIENT) && !isLoopback(hostnameOf(record.host))) {
    return {...base, status: 'refused', note: `${list.from} holds the demo recipient, whose identity ships with palette-keys, and this is a value of ${record.host}: not re-sealed to it`}
  }
  const now = fingerprints(list.recipients)
  const to = list.recipients.map(recipientLabel)
  if (header.sealedTo && sameSet(header.sealedTo.to.map((e) => e.fp), now)) return {...base, status: 'current', to}
  // Whoever could open an earlier file of this value still can (git history): kept in `was` unless listed again.
  const was = new Map<string, SealedToEntry>()
  for (const e of [...(header.sealedTo?.to ?? []), ...(header.sealedTo?.was ?? [])]) if (!now.includes(e.fp)) was.set(e.fp, e)
  const unrecordedBefore = header.sealedTo === undefined || header.sealedTo.unrecordedBefore === true
  if (!dryRun) {
    const armored = await encryptRecord(record, list.recipients, {was: [...was.values()].sort((a, b) => (a.fp < b.fp ? -1 : 1)), ...(unrecordedBefore ? {unrecordedBefore: true} : {})})
    // Checked again right before writing: a link planted since would be replaced, never followed.
    const again = await lstat(path)
    if (!again.isFile()) return {...base, status: 'broken', note: 'it was replaced by something else while reseal ran: left as it is'}
    await writeFileAtomic(path, armored, 0o600)
  }
  return {
    ...base,
    status: 'resealed',
    to,
    ...(header.sealedTo ? {before: header.sealedTo.to.map((e) => e.label)} : {}),
    ...(header.sealedTo ? {} : {note: 'its file did not say whom it was sealed to: if a recipient was removed since it was sealed, rotate the key (plan --replace)'}),
  }
}

/** A file no given identity opens: what its header says, against the list of the key its name gives (both data). */
function notOpened(lists: ReturnType<typeof recipientLists>, file: string, header: HeaderReading): ResealEntry {
  const named = lists.ofFile(file)
  const uid = uidOfSealedFileName(file)
  const base = {file, status: 'not-opened' as const, ...(named ? {key: named.key} : {}), ...(uid ? {uid} : {})}
  if (!header.sealedTo) return {...base, note: header.problem}
  const to = header.sealedTo.to.map((e) => e.label)
  if (!named) return {...base, before: to, note: `sealed to ${to.join(', ')}`}
  const needsReseal = !sameSet(header.sealedTo.to.map((e) => e.fp), fingerprints(named.recipients))
  return {...base, before: to, needsReseal, note: needsReseal ? `sealed to ${to.join(', ')}: a holder of one of those can reseal it` : `sealed to ${to.join(', ')}, its current list: nothing to do`}
}

function sameSet(a: string[], b: string[]): boolean {
  const x = new Set(a)
  return x.size === new Set(b).size && b.every((v) => x.has(v))
}

function hostnameOf(host: string): string {
  try {
    return new URL(host).hostname
  } catch {
    return host
  }
}
