import {readFile, stat} from 'node:fs/promises'
import {ExitCode} from '../cli/exit-codes.js'
import {PaletteKeysError} from '../util/errors.js'
import {decryptRecord, NotForUs, type SealedRecord} from './sealed-file.js'
import {listSealedFiles} from './seal-dir.js'

export interface UnsealResult {
  /** The newest record per user and key name, sorted. */
  records: SealedRecord[]
  /** Files sealed to other recipients only (normal in a shared folder). */
  notForUs: string[]
}

/** Opens sealed files and folders; any unreadable or corrupt file is an error (exit 1). */
export async function unsealPaths(paths: string[], identities: string[]): Promise<UnsealResult> {
  const files: string[] = []
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined)
    if (!s) throw new PaletteKeysError(`${p} does not exist.`, {code: 'unseal-missing', exitCode: ExitCode.Usage})
    files.push(...(s.isDirectory() ? await listSealedFiles(p) : [p]))
  }
  const newest = new Map<string, SealedRecord>()
  const notForUs: string[] = []
  const broken: string[] = []
  for (const file of files) {
    try {
      const record = await decryptRecord(await readFile(file, 'utf8'), identities)
      const id = `${record.user.toLowerCase()}/${record.name}`
      const seen = newest.get(id)
      if (!seen || seen.createdAt < record.createdAt || (seen.createdAt === record.createdAt && seen.uid < record.uid)) newest.set(id, record)
    } catch (error) {
      if (error instanceof NotForUs) notForUs.push(file)
      else broken.push(`${file}: ${(error as Error).message}`)
    }
  }
  if (broken.length > 0) {
    throw new PaletteKeysError(`${broken.length} sealed file${broken.length === 1 ? '' : 's'} could not be opened:\n  ${broken.join('\n  ')}`, {
      code: 'unseal-failed',
      exitCode: ExitCode.Error,
      hints: ['A truncated or edited file cannot be repaired; the key it held must be rotated.'],
    })
  }
  const records = [...newest.values()].sort((a, b) => (a.user === b.user ? (a.name < b.name ? -1 : 1) : a.user < b.user ? -1 : 1))
  return {records, notForUs}
}
