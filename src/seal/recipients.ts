import {createHash, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject} from 'node:crypto'
import {bech32} from '@scure/base'
import {parseSshPublicKey} from './ssh-key.js'

/**
 * Why `r` is not a usable recipient, or undefined. Two kinds are accepted:
 * - X25519 recipients (`age1…`, 32 bytes): what `age-keygen` and Debian's `age` make and read;
 * - post-quantum hybrid recipients (`age1pq1…`, ML-KEM-768 + X25519, 1,216 bytes), from
 *   `palette-keys keygen --pq` or `age-keygen -pq` (age 1.3 and later): files sealed to them open
 *   only with age 1.3 or later, not with Debian's age 1.1.1 (README).
 * - SSH public keys (`ssh-ed25519 AAAA… comment`, `ssh-rsa AAAA… comment` of 2048 bits or more),
 *   as age's ssh recipient types: teams seal to keys they already publish (seal/ssh.ts).
 * Tag recipients (`age1tag1…`, hardware tokens) are refused.
 *
 * The check is age-encryption's own for each kind (bech32, prefix, length; a unit test holds
 * the two to the same answers), done with the bech32 library it uses, so that `validate` and
 * `plan` need not load age-encryption and its post-quantum code (about 0.1 s of start-up): only
 * commands that seal or unseal do.
 */
export function recipientProblem(r: string): string | undefined {
  // Never echo any of it: it is a secret, and whoever reads the file has it now.
  if (/^age-secret-key-/i.test(r.trim())) return 'this is a private age identity (AGE-SECRET-KEY-…), not a recipient: remove it, and treat it as exposed (make a new identity and re-seal to it)'
  if (/PRIVATE KEY-----/.test(r)) return 'this is a private key, not a recipient: remove it, and treat it as exposed (use the public key, the .pub file)'
  if (isSsh(r)) {
    try {
      parseSshPublicKey(r)
      return undefined
    } catch (error) {
      return `invalid SSH recipient: ${(error as Error).message}`
    }
  }
  const pq = r.startsWith('age1pq1')
  if (!r.startsWith('age1') || r.startsWith('age1tag')) return `"${r.slice(0, 24)}" is not an age X25519 (age1…) or post-quantum (age1pq1…) recipient, nor an SSH public key (ssh-ed25519 or ssh-rsa)`
  try {
    if (pq) {
      // Longer than bech32's usual 90 characters: decoded without that limit, as age-encryption does.
      const {prefix, words} = bech32.decode(r as `${string}1${string}`, false)
      if (prefix.toLowerCase() !== 'age1pq' || bech32.fromWords(words).length !== PQ_RECIPIENT_BYTES) return 'invalid age post-quantum recipient: invalid recipient'
      return undefined
    }
    const {prefix, bytes} = bech32.decodeToBytes(r)
    if (prefix.toLowerCase() !== 'age' || bytes.length !== 32) return 'invalid age recipient: invalid recipient'
    return undefined
  } catch (error) {
    return `invalid age recipient: ${(error as Error).message}`
  }
}

/** An ML-KEM-768 public key (1,184 bytes) and an X25519 one (32): an age1pq1… recipient's payload. */
const PQ_RECIPIENT_BYTES = 1216

/** Whether `r` is an SSH public key line (ssh-ed25519 or ssh-rsa, or another ssh- type recipientProblem refuses). */
export const isSsh = (r: string): boolean => /^\s*ssh-/.test(r)

/** `r` as age-encryption's Encrypter takes it: the string for an age recipient, a Recipient of ours for an SSH key. Loads the SSH code only when needed. */
export async function encrypterRecipient(r: string): Promise<string | import('age-encryption').Recipient> {
  if (!isSsh(r)) return r
  const {sshRecipient} = await import('./ssh.js')
  return sshRecipient(r)
}

/** Whether `r` is a post-quantum hybrid recipient (age1pq1…). */
export const isPostQuantum = (r: string): boolean => r.startsWith('age1pq1')

/**
 * The recipient of examples/demo-identity.txt. Its identity ships in the package, so values
 * sealed to it are readable by anyone: it is accepted only for a loopback host (the emulator).
 */
export const DEMO_RECIPIENT = 'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c'

/**
 * Seals a few bytes to each recipient, as apply will: a recipient that decodes but cannot be
 * sealed to (a crafted low-order point) fails here, not after apply's first changes. An X25519
 * recipient is tried with the key agreement alone, through Node's own X25519 (OpenSSL's, which
 * refuses a shared secret of zero as age's does; a unit test holds it to the low-order points):
 * no curve library is loaded. The others load age-encryption, so only the commands that need it call this.
 */
let trialSecret: KeyObject | undefined

export async function trialSealProblems(recipients: string[]): Promise<Array<{index: number; problem: string}>> {
  const out: Array<{index: number; problem: string}> = []
  for (const [index, r] of recipients.entries()) {
    const problem = `nothing can be sealed to this recipient (not a usable ${isSsh(r) ? 'SSH' : isPostQuantum(r) ? 'ML-KEM-768/X25519' : 'X25519'} public key)`
    try {
      if (!isSsh(r) && !isPostQuantum(r)) {
        // An X25519 recipient: the key agreement age makes with it, without loading age-encryption
        // and its post-quantum code, nor a curve library (a third of validate's start-up each).
        const bytes = bech32.decodeToBytes(r).bytes
        if (bytes.length !== 32) throw new Error('not 32 bytes')
        trialSecret ??= generateKeyPairSync('x25519').privateKey
        diffieHellman({privateKey: trialSecret, publicKey: createPublicKey({key: {kty: 'OKP', crv: 'X25519', x: Buffer.from(bytes).toString('base64url')}, format: 'jwk'})})
        continue
      }
      const {Encrypter} = await import('age-encryption')
      const e = new Encrypter()
      e.addRecipient(await encrypterRecipient(r))
      await e.encrypt('palette-keys trial seal')
    } catch {
      out.push({index, problem})
    }
  }
  return out
}

/**
 * A recipient's fingerprint: the first 8 bytes of SHA-256 of its canonical text (an age
 * recipient in lower case, bech32 being case-blind), in hex. Sealed files record these, not the
 * recipients: a post-quantum recipient is 1,950 characters. Public, like the recipient itself.
 */
export function recipientFingerprint(r: string): string {
  let fp = FINGERPRINTS.get(r)
  if (fp === undefined) {
    fp = createHash('sha256').update(canonicalRecipient(r)).digest('hex').slice(0, 16)
    FINGERPRINTS.set(r, fp)
  }
  return fp
}

/** A plan asks for the fingerprints of one list once a key: each recipient is hashed once a run. */
const FINGERPRINTS = new Map<string, string>()

/** What a recipient is called in plans and messages: `age1abcd…wxyz` (the first 8 and last 4 characters). */
export function recipientLabel(r: string): string {
  const c = canonicalRecipient(r)
  if (c.startsWith('ssh-')) {
    // An SSH key's comment names it (alice@laptop); without one, its type and the end of its key.
    const comment = r.trim().split(/\s+/).slice(2).join(' ')
    return comment === '' ? `${c.split(' ')[0]} …${c.slice(-8)}` : comment.slice(0, 60)
  }
  return c.length <= 16 ? c : `${c.slice(0, isPostQuantum(c) ? 11 : 8)}…${c.slice(-4)}`
}

/** An age recipient in lower case (bech32 is case-blind); an SSH key as `TYPE BASE64`, without its comment (base64 is not). */
function canonicalRecipient(r: string): string {
  const t = r.trim()
  if (/^ssh-/.test(t)) return t.split(/\s+/).slice(0, 2).join(' ')
  return t.toLowerCase()
}

/** The fingerprints of a list of recipients, sorted and without repeats. */
export function fingerprints(recipients: string[]): string[] {
  return [...new Set(recipients.map(recipientFingerprint))].sort()
}

/** The kinds of recipient, by the age stanza type each seals with. */
export const STANZA_OF_KIND = {x25519: 'X25519', pq: 'mlkem768x25519', 'ssh-ed25519': 'ssh-ed25519', 'ssh-rsa': 'ssh-rsa'} as const
export type RecipientKind = keyof typeof STANZA_OF_KIND

/** The kind of a recipient that recipientProblem accepted. */
export function recipientKind(r: string): RecipientKind {
  const c = canonicalRecipient(r)
  if (c.startsWith('ssh-ed25519 ')) return 'ssh-ed25519'
  if (c.startsWith('ssh-rsa ')) return 'ssh-rsa'
  return isPostQuantum(c) ? 'pq' : 'x25519'
}
