import {createHash} from 'node:crypto'
import {base64, base64nopad} from '@scure/base'

/**
 * SSH keys as the age specification uses them for its `ssh-ed25519` and `ssh-rsa` recipient
 * types: public keys as `~/.ssh/id_*.pub` lines, private keys as ssh-keygen writes them (the
 * OpenSSH format, `-----BEGIN OPENSSH PRIVATE KEY-----`). Parsing only, no cryptography (seal/ssh.ts
 * does that): validate and plan read public keys without loading any of it.
 */

export type SshPublicKey = {type: 'ssh-ed25519'; blob: Uint8Array; key: Uint8Array} | {type: 'ssh-rsa'; blob: Uint8Array; n: Uint8Array; e: Uint8Array}

/** An unencrypted private key: what an `ssh-ed25519` or `ssh-rsa` identity needs. */
export type SshPrivateKey =
  | {kind: 'ssh'; type: 'ssh-ed25519'; public: SshPublicKey; seed: Uint8Array}
  | {kind: 'ssh'; type: 'ssh-rsa'; public: SshPublicKey; n: Uint8Array; e: Uint8Array; d: Uint8Array; p: Uint8Array; q: Uint8Array; iqmp: Uint8Array}

/** age refuses RSA keys under 2048 bits; above 16384 nothing real is made. */
const RSA_MIN_BITS = 2048
const RSA_MAX_BITS = 16384

/** The SSH wire format: big-endian lengths before every string and integer. */
class Wire {
  private at = 0
  constructor(private readonly b: Uint8Array) {}
  uint32(): number {
    if (this.at + 4 > this.b.length) throw new Error('truncated')
    const v = new DataView(this.b.buffer, this.b.byteOffset + this.at, 4).getUint32(0)
    this.at += 4
    return v
  }
  bytes(): Uint8Array {
    const n = this.uint32()
    if (this.at + n > this.b.length) throw new Error('truncated')
    const v = this.b.subarray(this.at, this.at + n)
    this.at += n
    return v
  }
  text(): string {
    return new TextDecoder('utf-8', {fatal: true}).decode(this.bytes())
  }
  /** An mpint, without the leading zero byte that keeps a positive one positive. */
  mpint(): Uint8Array {
    const v = this.bytes()
    if (v.length > 0 && (v[0]! & 0x80) !== 0) throw new Error('negative integer')
    let i = 0
    while (i < v.length - 1 && v[i] === 0) i++
    return v.subarray(i)
  }
  get done(): boolean {
    return this.at === this.b.length
  }
  rest(): Uint8Array {
    return this.b.subarray(this.at)
  }
}

/** Parses the key of an `ssh-ed25519 AAAA… comment` or `ssh-rsa AAAA… comment` line; throws with why, never quoting it. */
export function parseSshPublicKey(line: string): SshPublicKey {
  const [type, data] = line.trim().split(/\s+/)
  if (type !== 'ssh-ed25519' && type !== 'ssh-rsa') throw new Error('only ssh-ed25519 and ssh-rsa keys are age recipients')
  if (data === undefined) throw new Error('the key\'s base64 part is missing')
  let blob: Uint8Array
  try {
    blob = base64.decode(data)
  } catch {
    throw new Error('the key\'s base64 part is not base64')
  }
  return publicKeyOfBlob(blob, type)
}

function publicKeyOfBlob(blob: Uint8Array, expected?: string): SshPublicKey {
  const w = new Wire(blob)
  let type: string
  try {
    type = w.text()
  } catch {
    throw new Error('the key is not in the SSH format')
  }
  if (expected !== undefined && type !== expected) throw new Error(`the key says it is ${type.slice(0, 20)}, not ${expected}`)
  try {
    if (type === 'ssh-ed25519') {
      const key = w.bytes()
      if (key.length !== 32 || !w.done) throw new Error('bad length')
      return {type, blob, key}
    }
    if (type === 'ssh-rsa') {
      const e = w.mpint()
      const n = w.mpint()
      if (!w.done) throw new Error('bad length')
      const bits = n.length * 8 - Math.clz32(n[0] ?? 0) + 24
      if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) throw new Error(`an RSA key of ${bits} bits (age takes ${RSA_MIN_BITS} to ${RSA_MAX_BITS})`)
      return {type, blob, n, e}
    }
  } catch (error) {
    throw new Error(`not a valid ${type} key (${(error as Error).message})`)
  }
  throw new Error('only ssh-ed25519 and ssh-rsa keys are age recipients')
}

/** The 4-byte tag age's ssh stanzas carry: the first bytes of SHA-256 of the key in wire format, base64. */
export function sshTag(pub: SshPublicKey): string {
  return base64nopad.encode(createHash('sha256').update(pub.blob).digest().subarray(0, 4))
}

const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----'
const END = '-----END OPENSSH PRIVATE KEY-----'
const MAGIC = 'openssh-key-v1\0'

/** Whether an identity file's text holds an OpenSSH private key (rather than age identities). */
export function isOpenSshPrivateKey(text: string): boolean {
  return text.includes(BEGIN)
}

/**
 * The private key of an OpenSSH private key file (ssh-keygen's format), for age's ssh-ed25519 and
 * ssh-rsa recipient types. A passphrase-protected key is refused: palette-keys asks for no passphrase.
 * Errors say what is wrong, never any of the key.
 */
export function parseOpenSshPrivateKey(text: string, origin: string): SshPrivateKey {
  const start = text.indexOf(BEGIN)
  const end = text.indexOf(END, start)
  const fail = (why: string) => new Error(`${origin} is an OpenSSH private key palette-keys cannot use: ${why}`)
  if (start < 0 || end < 0) throw fail('its END line is missing')
  let bytes: Uint8Array
  try {
    bytes = base64.decode(text.slice(start + BEGIN.length, end).replace(/\s+/g, ''))
  } catch {
    throw fail('its body is not base64')
  }
  if (new TextDecoder().decode(bytes.subarray(0, MAGIC.length)) !== MAGIC) throw fail('it is not in the openssh-key-v1 format')
  try {
    const w = new Wire(bytes.subarray(MAGIC.length))
    const cipher = w.text()
    w.text() // kdf name
    w.bytes() // kdf options
    if (cipher !== 'none') throw new PassphraseProtected(origin)
    if (w.uint32() !== 1) throw fail('it holds more than one key')
    const pub = publicKeyOfBlob(w.bytes())
    const p = new Wire(w.bytes())
    if (p.uint32() !== p.uint32()) throw fail('its check numbers differ (a damaged file)')
    const type = p.text()
    if (type !== pub.type) throw fail('its private part is of another type than its public part')
    if (pub.type === 'ssh-ed25519') {
      const publicKey = p.bytes()
      const secret = p.bytes()
      if (secret.length !== 64 || publicKey.length !== 32 || !equal(publicKey, pub.key) || !equal(secret.subarray(32), pub.key)) throw fail('its ed25519 parts do not agree')
      return {kind: 'ssh', type: 'ssh-ed25519', public: pub, seed: secret.slice(0, 32)}
    }
    const n = p.mpint()
    const e = p.mpint()
    const d = p.mpint()
    const iqmp = p.mpint()
    const pp = p.mpint()
    const q = p.mpint()
    if (pub.type !== 'ssh-rsa' || !equal(n, pub.n) || !equal(e, pub.e)) throw fail('its RSA parts do not agree')
    return {kind: 'ssh', type: 'ssh-rsa', public: pub, n, e, d, p: pp, q, iqmp}
  } catch (error) {
    if (error instanceof PassphraseProtected || (error as Error).message.startsWith(origin)) throw error
    throw fail(`it is damaged (${(error as Error).message})`)
  }
}

export class PassphraseProtected extends Error {
  constructor(origin: string) {
    super(`${origin} is protected by a passphrase, which palette-keys does not ask for.`)
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}
