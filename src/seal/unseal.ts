import {readFile, stat} from 'node:fs/promises'
import {basename} from 'node:path'
import {ExitCode} from '../util/exit-codes.js'
import {PaletteKeysError} from '../util/errors.js'
import {decryptRecord, type HeaderReading, NotForUs, type OpeningIdentity, readSealedTo, type SealedRecord, uidOfSealedFileName} from './sealed-file.js'
import {fingerprints} from './recipients.js'
import {listSealedFiles} from './seal-dir.js'

export interface UnsealResult {
  /** One record per user and key name, sorted; keys with conflicting records are left out. */
  records: SealedRecord[]
  /** Files sealed to other recipients only (normal in a shared folder). */
  notForUs: string[]
  /** What the headers of those files say of their recipients (data: for hints only). */
  notForUsHeaders: Record<string, HeaderReading>
  /** Files that could not be used, each with why (never any of its plaintext). */
  broken: string[]
  /** `user/name` with more than one record (different uids): which one is live, unseal cannot tell. */
  conflicts: Array<{key: string; uids: string[]}>
}

/**
 * Opens sealed files and folders. Anyone holding a public recipient can write a sealed file,
 * so nothing in a file chooses for the reader: a record counts only when its uid is the one
 * its file name carries, and two records for one user and key name are a conflict to report,
 * never a choice made by their createdAt. A corrupt file is reported by name; the rest are
 * still served.
 */
export async function unsealPaths(paths: string[], identities: OpeningIdentity[]): Promise<UnsealResult> {
  const files: string[] = []
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined)
    if (!s) throw new PaletteKeysError(`${p} does not exist.`, {code: 'unseal-missing', exitCode: ExitCode.Usage})
    for (const f of s.isDirectory() ? await listSealedFiles(p) : [p]) files.push(f)
  }
  const byKey = new Map<string, SealedRecord[]>()
  const notForUs: string[] = []
  const notForUsHeaders: Record<string, HeaderReading> = {}
  const broken: string[] = []
  for (const file of files) {
    let record: SealedRecord
    let text = ''
    try {
      text = await readFile(file, 'utf8')
      record = await decryptRecord(text, identities)
    } catch (error) {
      if (error instanceof NotForUs) {
        notForUs.push(file)
        notForUsHeaders[file] = await readSealedTo(text)
      } else broken.push(`${file}: ${(error as Error).message}`)
      continue
    }
    const named = uidOfSealedFileName(basename(file))
    if (named !== undefined && named !== record.uid) {
      broken.push(`${file}: it holds the record of another key than its name says (a file renamed or planted); not used`)
      continue
    }
    const id = `${record.user.toLowerCase()}/${record.name}`
    const list = byKey.get(id) ?? []
    if (!list.some((r) => r.uid === record.uid && r.apiKey === record.apiKey)) list.push(record)
    byKey.set(id, list)
  }
  const records: SealedRecord[] = []
  const conflicts: UnsealResult['conflicts'] = []
  for (const [key, list] of byKey) {
    if (list.length === 1) records.push(list[0]!)
    else conflicts.push({key, uids: list.map((r) => r.uid).sort()})
  }
  records.sort((a, b) => (a.user === b.user ? (a.name < b.name ? -1 : 1) : a.user < b.user ? -1 : 1))
  conflicts.sort((a, b) => (a.key < b.key ? -1 : 1))
  return {records, notForUs, notForUsHeaders, broken, conflicts}
}

/**
 * For files no given identity opens: whom each is sealed to (its header's record, data), and
 * whether a reseal by one of those would help: it would when a given identity's recipient is in
 * the list the file's key has now (`lists`, from the desired file when there is one).
 */
export function notForUsLines(result: UnsealResult, ours: string[], lists?: (file: string) => {key: string; recipients: string[]; from: string} | undefined, max = 20): string[] {
  const mine = new Set(fingerprints(ours))
  const lines: string[] = []
  for (const file of result.notForUs.slice(0, max)) {
    const header = result.notForUsHeaders[file]
    const to = header?.sealedTo ? `sealed to ${header.sealedTo.to.map((e) => e.label).join(', ')}` : 'it does not say whom it is sealed to'
    const list = lists?.(file)
    let then = ''
    if (list) {
      const listed = fingerprints(list.recipients).some((fp) => mine.has(fp))
      then = listed ? `; you are in ${list.from} now: a reseal by a holder of one of those (palette-keys reseal) lets you open it` : `; you are not in ${list.from}, so a reseal would not help you`
    }
    lines.push(`${file}: ${to}${then}`)
  }
  if (result.notForUs.length > max) lines.push(`and ${result.notForUs.length - max} more`)
  return lines
}

/** Why an unseal that printed something is still not a success (exit 1), for stderr; undefined when it is. */
export function unsealProblems(result: UnsealResult): PaletteKeysError | undefined {
  const lines: string[] = []
  if (result.broken.length > 0) lines.push(`${result.broken.length} sealed file${result.broken.length === 1 ? '' : 's'} could not be used:`, ...result.broken.map((b) => `  ${b}`))
  for (const c of result.conflicts) lines.push(`${c.key}: ${c.uids.length} sealed records (uids ${c.uids.join(', ')}); left out, as unseal cannot tell which key is live`)
  if (result.records.length === 0 && lines.length === 0) {
    lines.push(result.notForUs.length > 0 ? `None of the ${result.notForUs.length} sealed files could be opened with the given identities.` : 'No sealed file was found.')
  }
  if (lines.length === 0) return undefined
  const hints: string[] = []
  if (result.broken.length > 0) hints.push('A truncated, edited or planted file cannot be trusted; the key it held must be rotated.')
  if (result.conflicts.length > 0) hints.push('`palette-keys plan` shows which uids are live; delete the sealed files of the others (apply deletes those of keys it deletes).')
  if (result.records.length === 0 && result.notForUs.length > 0) {
    // A file is sealed to the recipients of its day: one added to seal.recipients later opens only values created since.
    hints.push('Pass an identity whose recipient was in the list when these values were sealed (above, whom each is sealed to): one added since opens only values sealed after it was added, until someone who can open them runs `palette-keys reseal` (or the key is rotated).')
  }
  return new PaletteKeysError(lines.join('\n'), {code: 'unseal-failed', exitCode: ExitCode.Error, hints})
}
