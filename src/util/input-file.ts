import {constants} from 'node:fs'
import {open} from 'node:fs/promises'

/** Why an input file could not be read: the errno code, or what it is instead of a file. */
export class InputFileError extends Error {
  constructor(
    readonly reason: string,
    readonly tooLarge = false,
  ) {
    super(reason)
  }
}

/**
 * Reads an input file (desired state, saved plan, seed, key or identity file) as text, only
 * if it is a regular file no larger than `maxBytes`: `-f /dev/zero` would read forever and a
 * FIFO would hang the command. Opened without blocking, checked on the open handle (so the
 * file checked is the file read), then read.
 */
export async function readInputFile(path: string, maxBytes: number): Promise<string> {
  let fh
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (error) {
    throw new InputFileError((error as NodeJS.ErrnoException).code ?? 'unreadable')
  }
  try {
    const s = await fh.stat()
    if (!s.isFile()) throw new InputFileError(s.isDirectory() ? 'a folder, not a file' : 'not a regular file')
    if (s.size > maxBytes) throw new InputFileError(`larger than ${maxBytes} bytes`, true)
    const text = await fh.readFile('utf8')
    if (Buffer.byteLength(text, 'utf8') > maxBytes) throw new InputFileError(`larger than ${maxBytes} bytes`, true)
    return text
  } catch (error) {
    if (error instanceof InputFileError) throw error
    throw new InputFileError((error as NodeJS.ErrnoException).code ?? 'unreadable')
  } finally {
    await fh.close()
  }
}
