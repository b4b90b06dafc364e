import {UsageError} from '../util/errors.js'
import {type InputFileError, readInputFile} from '../util/input-file.js'
import {readableByOthers} from '../util/output-file.js'

export interface NewIdentity {
  identity: string
  recipient: string
}

/** A new age identity: X25519 (age-keygen's default), or with `pq` a post-quantum hybrid one (age-keygen -pq, age 1.3+). */
export async function newIdentity(options: {pq?: boolean} = {}): Promise<NewIdentity> {
  const {generateHybridIdentity, generateX25519Identity, identityToRecipient} = await import('age-encryption')
  const identity = options.pq ? await generateHybridIdentity() : await generateX25519Identity()
  return {identity, recipient: await identityToRecipient(identity)}
}

/** The same layout as `age-keygen` writes, so either tool reads the other's files. */
export function identityFileText(id: NewIdentity, now: Date): string {
  return `# created: ${now.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n# public key: ${id.recipient}\n${id.identity}\n`
}

/** Identities from an identity file (ours or age-keygen's): every AGE-SECRET-KEY line. */
export async function readIdentityFile(path: string): Promise<string[]> {
  let text: string
  try {
    text = await readInputFile(path, 1024 * 1024)
  } catch (error) {
    throw new UsageError(`Cannot read the identity file ${path} (${(error as InputFileError).reason}).`, [], 'identity-unreadable')
  }
  const identities = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('AGE-SECRET-KEY-'))
  const exposed = await readableByOthers(path)
  if (exposed) process.stderr.write(`Warning: ${exposed}\n`)
  if (identities.length === 0) {
    throw new UsageError(`${path} holds no age identity (a line starting with AGE-SECRET-KEY-).`, ['Make one with `palette-keys keygen -o FILE` or `age-keygen -o FILE`.'], 'identity-invalid')
  }
  return identities
}
