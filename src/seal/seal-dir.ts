import {closeSync, constants, existsSync, fstatSync, lstatSync, openSync, readdirSync, readSync} from 'node:fs'
import {lstat, mkdir, open, readdir, rm} from 'node:fs/promises'
import {dirname, isAbsolute, join, relative, resolve, sep} from 'node:path'
import {isAtomicTemp, writeFileAtomic} from '../util/atomic-write.js'
import {UsageError} from '../util/errors.js'
import {scrub} from '../util/scrub.js'
import {encryptRecord, type HeaderReading, isSealedFileName, readSealedTo, type SealedRecord, safeName, sealedRelativePath, uidOfSealedFileName} from './sealed-file.js'

/** Where apply puts created values: what the executor needs of sealing. */
export interface Sealer {
  /** Encrypts the record to `recipients` and durably writes it; resolves with the file's path. */
  seal(record: SealedRecord, recipients: string[]): Promise<string>
  /** Removes the sealed files of a key that no longer exists; resolves with their paths. */
  removeFor(uid: string): Promise<string[]>
}

/**
 * The seal folder: one age file per created key, written atomically (temp file in the
 * same folder, fsync, rename, fsync the folder) with mode 0600.
 */
export class SealDir implements Sealer {
  /**
   * The folder's sealed files by key uid, listed once (at the first removeFor) and kept up to
   * date by seal() and removeFor(): a rotation or delete no longer lists the whole folder.
   */
  private index: Promise<Map<string, Set<string>>> | undefined

  constructor(readonly dir: string) {}

  /**
   * Checks the folder before the first change, so that a value never has nowhere to go. The
   * seal folder and every folder under it (one per user that gets a value) must be real
   * directories inside the repository of the desired file (`root`: the nearest folder above
   * it holding `.git`, else its own folder): no symlink anywhere below the root (git can
   * commit one, and it could send values out of the repository), no `..` out of it. Missing
   * folders are created (0700). A folder anyone may write to is refused unless
   * `allowWorldWritable`: another user could swap or read files there. Then a file is written,
   * fsync'd and removed in each of them (a read-only or odd folder fails here, not after the
   * first key was made), and temp files a killed run left are removed.
   */
  async prepare(options: {root?: string; users?: string[]; allowWorldWritable?: boolean} = {}): Promise<void> {
    const root = this.insideRoot(options.root)
    const folders = [this.dir, ...(options.users ?? []).map((u) => join(this.dir, safeName(u)))]
    for (const folder of folders) await realDirectory(root, folder, true)
    const mode = (await lstat(this.dir)).mode
    if (mode & 0o002 && !options.allowWorldWritable) {
      throw new UsageError(`The seal folder ${this.dir} is writable by every user (mode ${(mode & 0o777).toString(8)}): refusing to put key values there.`, [
        `chmod o-w ${this.dir}, or pass --force if this is really intended.`,
      ], 'seal-dir-world-writable')
    }
    await removeStaleTemps(this.dir)
    for (const folder of folders) await probe(folder)
  }

  /**
   * For a plan that only removes sealed files (of keys it deletes): the same path checks as
   * prepare(), creating and probing nothing, so no removal reaches through a link.
   */
  async check(options: {root?: string} = {}): Promise<void> {
    await realDirectory(this.insideRoot(options.root), this.dir, false)
  }

  private insideRoot(given: string | undefined): string {
    const root = resolve(given ?? dirname(this.dir))
    const rel = relative(root, this.dir)
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new UsageError(`The seal folder ${this.dir} is outside ${root}, the repository of the desired-state file: refusing to put key values there.`, ['Set seal.dir to a folder inside the repository (relative to the desired-state file).'], 'seal-dir-outside')
    }
    return root
  }

  async seal(record: SealedRecord, recipients: string[]): Promise<string> {
    const path = join(this.dir, sealedRelativePath(record))
    // A file name is committed to git and shown everywhere: it may never hold a secret this process knows.
    if (scrub(path) !== path) throw Object.assign(new Error('the sealed file\'s name would hold a secret'), {code: 'ESECRETNAME'})
    if (recipients.length === 0) throw Object.assign(new Error('no recipient to seal to'), {code: 'ENORECIPIENT'})
    const armored = await encryptRecord(record, recipients)
    await mkdir(dirname(path), {recursive: true, mode: 0o700})
    // Checked again right before writing: the folder may have been swapped since prepare().
    const folder = await lstat(dirname(path))
    if (folder.isSymbolicLink() || !folder.isDirectory()) throw Object.assign(new Error(`${dirname(path)} is not a real directory`), {code: 'ENOTDIR'})
    await writeFileAtomic(path, armored, 0o600)
    // An index being listed may or may not have seen the new file: adding it again is harmless.
    if (this.index) filed(await this.index, record.uid).add(path)
    return path
  }

  async removeFor(uid: string): Promise<string[]> {
    this.index ??= listSealedFiles(this.dir).then((files) => {
      const byUid = new Map<string, Set<string>>()
      for (const file of files) {
        const owner = uidOfSealedFileName(file)
        if (owner !== undefined) filed(byUid, owner).add(file)
      }
      return byUid
    })
    const files = (await this.index).get(uid)
    if (!files) return []
    const removed = [...files].sort()
    for (const file of removed) {
      await rm(file, {force: true})
      files.delete(file)
    }
    return removed
  }

  display(path: string): string {
    const rel = relative(process.cwd(), path)
    return rel === '' || rel.startsWith('..') ? path : rel
  }
}

/** The repository a desired-state file belongs to: the nearest folder above it with `.git`, else its own folder. */
export function repositoryOf(desiredFile: string): string {
  const start = dirname(resolve(desiredFile))
  for (let d = start; ; d = dirname(d)) {
    if (existsSync(join(d, '.git'))) return d
    if (dirname(d) === d) return start
  }
}

/** Every folder from `root` (exclusive) down to `folder` must be a real directory; missing ones are created 0700 (with `create`). */
async function realDirectory(root: string, folder: string, create: boolean): Promise<void> {
  let at = root
  for (const part of relative(root, folder).split(sep).filter(Boolean)) {
    at = join(at, part)
    const s = await lstat(at).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
      return undefined
    })
    if (!s) {
      if (!create) return // nothing there, so nothing to remove
      await mkdir(at, {mode: 0o700})
      continue
    }
    if (s.isSymbolicLink()) throw new UsageError(`${at} is a symbolic link: refusing to put key values through it (it could lead out of the repository).`, ['Make it a real folder, or point seal.dir elsewhere.'], 'seal-dir-symlink')
    if (!s.isDirectory()) throw new UsageError(`${at} is not a folder: key values cannot be sealed under it.`, ['Move the file out of the way, or point seal.dir elsewhere.'], 'seal-dir-not-a-folder')
  }
}

/** Writes, fsyncs and removes a file in `folder`, then fsyncs the folder: what sealing will need. */
async function probe(folder: string): Promise<void> {
  const path = join(folder, `.palette-keys-probe-${process.pid}.tmp`)
  try {
    const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
    try {
      await fh.writeFile('probe\n')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rm(path, {force: true})
    const dh = await open(folder, 'r')
    try {
      await dh.sync()
    } finally {
      await dh.close()
    }
  } catch (error) {
    await rm(path, {force: true}).catch(() => undefined)
    throw new UsageError(`The seal folder ${folder} cannot hold key values: writing a file there failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). Nothing was changed.`, ['Make the folder writable for this user, or point seal.dir elsewhere.'], 'seal-dir-unwritable')
  }
}

function filed(index: Map<string, Set<string>>, uid: string): Set<string> {
  let set = index.get(uid)
  if (!set) index.set(uid, (set = new Set()))
  return set
}

/** Temp files of an atomic write that a killed run left behind (never a sealed file). */
async function removeStaleTemps(dir: string): Promise<void> {
  const entries = await readdir(dir, {withFileTypes: true, recursive: true}).catch(() => [])
  for (const e of entries) {
    if (e.isFile() && (isAtomicTemp(e.name) || e.name.startsWith('.palette-keys-probe-'))) await rm(join(e.parentPath, e.name), {force: true})
  }
}

/**
 * Every sealed file below `dir` (recursively); none when it does not exist. Listed synchronously:
 * there is a folder per user, and fs/promises goes through the thread pool once a folder (10,000
 * files in 1,048 folders: 110-210 ms, against 16-43 ms); plan lists the folder twice.
 */
export async function listSealedFiles(dir: string): Promise<string[]> {
  let entries
  try {
    entries = readdirSync(dir, {withFileTypes: true, recursive: true})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  return entries
    .filter((e) => e.isFile() && isSealedFileName(e.name))
    .map((e) => join(e.parentPath ?? (e as unknown as {path: string}).path, e.name))
    .sort()
}

/**
 * The seal folder's sealed file names, relative to it and '/'-separated, sorted: what plan reads
 * of the folder (no identity is needed; no file is opened). They are data: a name counts only
 * through the uid it holds (plan/diff.ts).
 */
export async function sealFolderFiles(dir: string): Promise<string[]> {
  return (await listSealedFiles(dir)).map((f) => relative(dir, f).split(sep).join('/')).sort()
}

/**
 * Removes stale sealed files (plan.seal.stale, recomputed by this run from the folder itself):
 * only names that are sealed file names inside the folder, through no link (check() ran first).
 */
export async function removeStaleFiles(dir: string, files: string[]): Promise<string[]> {
  const removed: string[] = []
  for (const file of files) {
    const path = resolve(dir, ...file.split('/'))
    const rel = relative(dir, path)
    if (rel.startsWith('..') || isAbsolute(rel) || !isSealedFileName(path.split(sep).pop() ?? '')) continue
    const s = await lstat(path).catch(() => undefined)
    if (!s?.isFile()) continue
    await rm(path, {force: true})
    removed.push(path)
  }
  return removed
}

/** A sealed file is a few kilobytes (a post-quantum recipient adds 2): anything far larger is not one, and is not read. */
export const MAX_SEALED_BYTES = 1024 * 1024

/** A file of the seal folder as text, or why it was not read. */
export type SealedFileText = {text: string} | {text?: undefined; unread: 'not-a-file' | 'too-large'; problem: string} | {text?: undefined; unread: 'unreadable'; code: string; problem: string}

/**
 * A regular file of at most MAX_SEALED_BYTES, as text, in one open (plan's header reads and
 * reseal's): no link is followed and a FIFO does not block (O_NOFOLLOW, O_NONBLOCK), and what it
 * is and its size are asked of the open file (fstat), so nothing can change between the look and
 * the read; one path lookup, not two (lstat, then the read's open). Synchronous: fs/promises'
 * open, stat, read and close round trips through the thread pool cost 20 times as much a file
 * (10,000 files: 2.5 s against 0.12 s).
 */
export function readSealedFileText(path: string): SealedFileText {
  const unreadable = (error: unknown): SealedFileText => {
    const code = (error as NodeJS.ErrnoException).code ?? 'error'
    return {unread: 'unreadable', code, problem: `unreadable (${code})`}
  }
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0))
  } catch (error) {
    // A link (ELOOP under O_NOFOLLOW), a socket (ENXIO): not a regular file, as lstat tells.
    let notFile = false
    try {
      notFile = !lstatSync(path).isFile()
    } catch {
      // gone: unreadable, as the open said
    }
    return notFile ? {unread: 'not-a-file', problem: 'not a regular file'} : unreadable(error)
  }
  try {
    const s = fstatSync(fd)
    if (!s.isFile()) return {unread: 'not-a-file', problem: 'not a regular file'}
    if (s.size > MAX_SEALED_BYTES) return {unread: 'too-large', problem: `${s.size} bytes: not a sealed file`}
    // To its end (it may have grown since fstat), never past the cap.
    const buffer = Buffer.alloc(Math.min(s.size + 1, MAX_SEALED_BYTES + 1))
    let length = 0
    for (let n = 1; n > 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null)
    if (length > MAX_SEALED_BYTES) return {unread: 'too-large', problem: `over ${MAX_SEALED_BYTES} bytes: not a sealed file`}
    return {text: buffer.toString('utf8', 0, length)}
  } catch (error) {
    return unreadable(error)
  } finally {
    closeSync(fd)
  }
}

/**
 * What the headers of some sealed files (names relative to `dir`, as sealFolderFiles gives them)
 * record of their recipients: read without an identity, as data (sealed-file.ts readSealedTo).
 * A file that cannot be read is reported as such, never skipped silently.
 */
export async function readSealedHeaders(dir: string, files: string[]): Promise<Record<string, HeaderReading>> {
  const out: Record<string, HeaderReading> = {}
  for (const file of files) {
    const read = readSealedFileText(join(dir, ...file.split('/')))
    out[file] = read.text === undefined ? {problem: read.problem} : await readSealedTo(read.text)
  }
  return out
}
