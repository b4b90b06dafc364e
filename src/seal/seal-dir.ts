import {mkdir, readdir, rm, stat} from 'node:fs/promises'
import {dirname, join, relative} from 'node:path'
import {writeFileAtomic} from '../util/atomic-write.js'
import {UsageError} from '../util/errors.js'
import {encryptRecord, isSealedFileName, type SealedRecord, sealedRelativePath, uidOfSealedFileName} from './sealed-file.js'

/** Where apply puts created values: what the executor needs of sealing. */
export interface Sealer {
  /** Encrypts and durably writes the record; resolves with the file's path. */
  seal(record: SealedRecord): Promise<string>
  /** Removes the sealed files of a key that no longer exists; resolves with their paths. */
  removeFor(uid: string): Promise<string[]>
}

/**
 * The seal folder: one age file per created key, written atomically (temp file in the
 * same folder, fsync, rename, fsync the folder) with mode 0600.
 */
export class SealDir implements Sealer {
  constructor(
    readonly dir: string,
    private readonly recipients: string[],
  ) {}

  /**
   * Creates the folder (0700) if needed. A folder anyone may write to is refused unless
   * `allowWorldWritable`: another user could swap or read files there.
   */
  async prepare(options: {allowWorldWritable?: boolean} = {}): Promise<void> {
    await mkdir(this.dir, {recursive: true, mode: 0o700})
    const mode = (await stat(this.dir)).mode
    if (mode & 0o002 && !options.allowWorldWritable) {
      throw new UsageError(`The seal folder ${this.dir} is writable by every user (mode ${(mode & 0o777).toString(8)}): refusing to put key values there.`, [
        `chmod o-w ${this.dir}, or pass --force if this is really intended.`,
      ], 'seal-dir-world-writable')
    }
  }

  async seal(record: SealedRecord): Promise<string> {
    const path = join(this.dir, sealedRelativePath(record))
    const armored = await encryptRecord(record, this.recipients)
    await mkdir(dirname(path), {recursive: true, mode: 0o700})
    await writeFileAtomic(path, armored, 0o600)
    return path
  }

  async removeFor(uid: string): Promise<string[]> {
    const removed: string[] = []
    for (const file of await listSealedFiles(this.dir)) {
      if (uidOfSealedFileName(file) === uid) {
        await rm(file, {force: true})
        removed.push(file)
      }
    }
    return removed
  }

  display(path: string): string {
    const rel = relative(process.cwd(), path)
    return rel === '' || rel.startsWith('..') ? path : rel
  }
}

/** Every sealed file below `dir` (recursively); none when it does not exist. */
export async function listSealedFiles(dir: string): Promise<string[]> {
  let entries
  try {
    entries = await readdir(dir, {withFileTypes: true, recursive: true})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  return entries
    .filter((e) => e.isFile() && isSealedFileName(e.name))
    .map((e) => join(e.parentPath ?? (e as unknown as {path: string}).path, e.name))
    .sort()
}
