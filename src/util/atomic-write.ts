import {randomBytes} from 'node:crypto'
import {constants} from 'node:fs'
import {open, rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

const TEMP_SUFFIX = '.tmp'
const TEMP_NAME = /^\..+\.[0-9a-f]{12}\.tmp$/

/** The name of a temp file writeFileAtomic makes (a killed run may leave one). */
export function isAtomicTemp(name: string): boolean {
  return TEMP_NAME.test(name)
}

/**
 * Writes a file so that readers see either the old or the new content, never a part,
 * and the new content survives a crash once this resolves: temp file in the same folder,
 * fsync, rename over the target, fsync the folder.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`)
  // A new file, never through a symbolic link planted at its name.
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode)
  try {
    await fh.writeFile(data)
    await fh.chmod(mode) // the umask may have narrowed or widened nothing, but be exact
    await fh.sync()
  } catch (error) {
    await fh.close()
    await rm(tmp, {force: true})
    throw error
  }
  await fh.close()
  try {
    await rename(tmp, path)
  } catch (error) {
    await rm(tmp, {force: true})
    throw error
  }
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}
