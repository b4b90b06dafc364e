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

/** The identities in an identity file's text (ours or age-keygen's): every AGE-SECRET-KEY line. */
export function identitiesFromText(text: string, origin: string): string[] {
  const identities = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('AGE-SECRET-KEY-'))
  if (identities.length === 0) {
    throw new UsageError(`${origin} holds no age identity (a line starting with AGE-SECRET-KEY-).`, ['Make one with `palette-keys keygen -o FILE` or `age-keygen -o FILE`.'], 'identity-invalid')
  }
  return identities
}

/** Identities from an identity file (ours or age-keygen's): every AGE-SECRET-KEY line. */
export async function readIdentityFile(path: string): Promise<string[]> {
  let text: string
  try {
    text = await readInputFile(path, 1024 * 1024)
  } catch (error) {
    throw new UsageError(`Cannot read the identity file ${path} (${(error as InputFileError).reason}).`, [], 'identity-unreadable')
  }
  const exposed = await readableByOthers(path)
  if (exposed) process.stderr.write(`Warning: ${exposed}\n`)
  return identitiesFromText(text, path)
}

/** Identities from standard input (`-i -`): a CI job pipes its secret in, so no file holds it. At most 1 MiB. */
export async function readIdentityStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<string[]> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)
    size += b.length
    if (size > 1024 * 1024) throw new UsageError('The identity on standard input is larger than 1 MiB: that is not an age identity file.', [], 'identity-unreadable')
    chunks.push(b)
  }
  return identitiesFromText(Buffer.concat(chunks).toString('utf8'), 'Standard input (-i -)')
}
