import {constants, realpathSync} from 'node:fs'
import {mkdir, open, rm, stat} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'
import {UsageError} from './errors.js'

/** The mode a new file gets from the process's umask (what `touch` would give), for files that are not secret. */
export function umaskMode(): number {
  const mask = process.umask()
  return 0o666 & ~mask
}

function real(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return resolve(path)
  }
}

/**
 * Gets an output file's place ready before any work that would be lost if it could not be
 * written (reading a whole tenant, say): its parent folders are created (`dirMode`), it is
 * never one of `inputs` (`plan --out keys.yaml` would destroy the file it read), an existing
 * file is kept unless `overwrite(path)` says it may go, and a file can be created beside it.
 */
export async function prepareOutput(path: string, o: {flag: string; inputs?: string[]; dirMode?: number; overwrite: (path: string) => Promise<boolean> | boolean; hint: string}): Promise<void> {
  const target = real(path)
  for (const input of o.inputs ?? []) {
    if (real(input) === target) throw new UsageError(`${o.flag} ${path} is the file this command reads: refusing to overwrite it.`, ['Choose another file name.'], 'output-is-input')
  }
  const existing = await stat(path).catch(() => undefined)
  if (existing && (!existing.isFile() || !(await o.overwrite(path)))) {
    throw new UsageError(`${path} exists: refusing to overwrite it.`, [o.hint], 'output-exists')
  }
  const dir = dirname(resolve(path))
  try {
    await mkdir(dir, {recursive: true, mode: o.dirMode ?? 0o777})
    const probe = join(dir, `.palette-keys-probe-${process.pid}.tmp`)
    const fh = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
    await fh.close()
    await rm(probe, {force: true})
  } catch (error) {
    throw new UsageError(`Cannot write ${o.flag} ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): nothing was done.`, ['Choose a folder you can write to.'], 'output-unwritable')
  }
}

/** As ssh warns: a key or identity file that others can read is no secret any more. */
export async function readableByOthers(path: string): Promise<string | undefined> {
  if (process.platform === 'win32') return undefined
  const s = await stat(path).catch(() => undefined)
  if (!s || (s.mode & 0o077) === 0) return undefined
  return `${path} can be read by others (mode ${(s.mode & 0o777).toString(8)}); it holds a secret: chmod 600 ${path}`
}
