import {base64} from '@scure/base'
import {UsageError} from '../util/errors.js'
import {type InputFileError, readInputFile} from '../util/input-file.js'
import {readableByOthers} from '../util/output-file.js'
import type {OpeningIdentity} from './sealed-file.js'
import {isOpenSshPrivateKey, parseOpenSshPrivateKey, PassphraseProtected} from './ssh-key.js'

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

/**
 * The identities in an identity file's text: every AGE-SECRET-KEY line (ours or age-keygen's), or
 * the key of an OpenSSH private key file (ssh-keygen's, unencrypted: ~/.ssh/id_ed25519, id_rsa).
 */
export function identitiesFromText(text: string, origin: string): OpeningIdentity[] {
  if (isOpenSshPrivateKey(text)) {
    try {
      return [parseOpenSshPrivateKey(text, origin)]
    } catch (error) {
      const hints = error instanceof PassphraseProtected ? ['Open the files with Debian\'s age instead (`age -d -i KEY FILE` asks for the passphrase), or use an age identity (`palette-keys keygen`).'] : []
      throw new UsageError((error as Error).message, hints, 'identity-invalid')
    }
  }
  const identities = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('AGE-SECRET-KEY-'))
  if (identities.length === 0) {
    throw new UsageError(`${origin} holds no age identity (a line starting with AGE-SECRET-KEY-) and no OpenSSH private key.`, ['Make one with `palette-keys keygen -o FILE` or `age-keygen -o FILE`, or pass an SSH key (~/.ssh/id_ed25519).'], 'identity-invalid')
  }
  return identities
}

/** Identities from an identity file (ours or age-keygen's): every AGE-SECRET-KEY line. */
export async function readIdentityFile(path: string): Promise<OpeningIdentity[]> {
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
export async function readIdentityStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<OpeningIdentity[]> {
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

/** The identities of -i FILE (and -i -, standard input, once), else of PALETTE_KEYS_IDENTITY: what unseal and reseal open files with. */
export async function givenIdentities(given: string[], command: string): Promise<OpeningIdentity[]> {
  if (given.filter((g) => g === '-').length > 1) throw new UsageError('-i - reads standard input, which can be read once: give it once.', [], 'identity-stdin-twice')
  if (given.length > 0) return (await Promise.all(given.map((g) => (g === '-' ? readIdentityStdin() : readIdentityFile(g))))).flat()
  const fromEnv = process.env.PALETTE_KEYS_IDENTITY
  if (fromEnv !== undefined && fromEnv.trim() !== '') return identitiesFromText(fromEnv, 'PALETTE_KEYS_IDENTITY')
  throw new UsageError(`${command} needs an identity: -i FILE, -i - (standard input), or PALETTE_KEYS_IDENTITY (the identity text, e.g. a CI secret).`, [`e.g. palette-keys ${command} ${command === 'unseal' ? 'sealed ' : ''}-i identity.txt`], 'identity-missing')
}

/** The public recipients of the given identities (to tell whether one is in a list): age's for age identities, the `TYPE BASE64` line for SSH keys. */
export async function recipientsOfIdentities(identities: OpeningIdentity[]): Promise<string[]> {
  const out: string[] = []
  for (const i of identities) {
    if (typeof i !== 'string') out.push(`${i.public.type} ${base64.encode(i.public.blob)}`)
    else out.push(await (await import('age-encryption')).identityToRecipient(i).catch(() => ''))
  }
  return out.filter((r) => r !== '')
}
