import {constants, createPrivateKey, createPublicKey, type KeyObject, privateDecrypt, publicEncrypt} from 'node:crypto'
import {chacha20poly1305} from '@noble/ciphers/chacha.js'
import {ed25519, x25519} from '@noble/curves/ed25519.js'
import {hkdf} from '@noble/hashes/hkdf.js'
import {sha256} from '@noble/hashes/sha2.js'
import {base64nopad, base64urlnopad} from '@scure/base'
import {type Identity, type Recipient, Stanza} from 'age-encryption'
import {parseSshPublicKey, type SshPrivateKey, type SshPublicKey, sshTag} from './ssh-key.js'

/**
 * age's `ssh-ed25519` and `ssh-rsa` recipient types (age specification, "ssh-ed25519" and
 * "ssh-rsa"), on age-encryption's public Recipient and Identity interfaces, with the @noble
 * primitives it uses (X25519, HKDF-SHA-256, ChaCha20-Poly1305) and Node's OpenSSL for RSA-OAEP.
 * Interoperable with Debian's age both ways (test/e2e/ssh-recipients.test.ts).
 */

const ED25519_LABEL = new TextEncoder().encode('age-encryption.org/v1/ssh-ed25519')
const RSA_LABEL = Buffer.from('age-encryption.org/v1/ssh-rsa')
const FILE_KEY_BYTES = 16
const ZERO_NONCE = new Uint8Array(12)

/** A Recipient for an `ssh-ed25519 …` or `ssh-rsa …` public key line. */
export function sshRecipient(line: string): Recipient {
  const pub = parseSshPublicKey(line)
  return pub.type === 'ssh-ed25519' ? ed25519Recipient(pub) : rsaRecipient(pub)
}

/** An Identity for an OpenSSH private key (ssh-keygen's file). */
export function sshIdentity(key: SshPrivateKey): Identity {
  return key.type === 'ssh-ed25519' ? ed25519Identity(key) : rsaIdentity(key)
}

function ed25519Recipient(pub: Extract<SshPublicKey, {type: 'ssh-ed25519'}>): Recipient {
  const theirs = ed25519.utils.toMontgomery(pub.key)
  const tag = sshTag(pub)
  return {
    wrapFileKey(fileKey: Uint8Array): Stanza[] {
      const ephemeral = x25519.utils.randomSecretKey()
      const share = x25519.getPublicKey(ephemeral)
      const secret = tweaked(pub, x25519.getSharedSecret(ephemeral, theirs))
      const key = hkdf(sha256, secret, concat(share, theirs), ED25519_LABEL, 32)
      return [new Stanza(['ssh-ed25519', tag, base64nopad.encode(share)], chacha20poly1305(key, ZERO_NONCE).encrypt(fileKey))]
    },
  }
}

function ed25519Identity(key: Extract<SshPrivateKey, {type: 'ssh-ed25519'}>): Identity {
  const pub = key.public as Extract<SshPublicKey, {type: 'ssh-ed25519'}>
  const ours = ed25519.utils.toMontgomerySecret(key.seed)
  const ourPublic = ed25519.utils.toMontgomery(pub.key)
  const tag = sshTag(pub)
  return {
    unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
      for (const s of stanzas) {
        if (s.args[0] !== 'ssh-ed25519' || s.args[1] !== tag) continue
        if (s.args.length !== 3 || s.body.length !== FILE_KEY_BYTES + 16) throw new Error('invalid ssh-ed25519 stanza')
        const share = base64nopad.decode(s.args[2]!)
        if (share.length !== 32) throw new Error('invalid ssh-ed25519 stanza')
        const secret = tweaked(pub, x25519.getSharedSecret(ours, share))
        const wrap = hkdf(sha256, secret, concat(share, ourPublic), ED25519_LABEL, 32)
        try {
          return chacha20poly1305(wrap, ZERO_NONCE).decrypt(s.body)
        } catch {
          // A tag shared by chance with another key: not ours.
        }
      }
      return null
    },
  }
}

/** The spec's tweak: the shared secret multiplied by a scalar bound to the SSH public key. */
function tweaked(pub: SshPublicKey, shared: Uint8Array): Uint8Array {
  const tweak = hkdf(sha256, new Uint8Array(0), pub.blob, ED25519_LABEL, 32)
  return x25519.getSharedSecret(tweak, shared)
}

function rsaRecipient(pub: Extract<SshPublicKey, {type: 'ssh-rsa'}>): Recipient {
  const key = createPublicKey({key: {kty: 'RSA', n: b64url(pub.n), e: b64url(pub.e)}, format: 'jwk'})
  const tag = sshTag(pub)
  return {
    wrapFileKey(fileKey: Uint8Array): Stanza[] {
      return [new Stanza(['ssh-rsa', tag], new Uint8Array(publicEncrypt(oaep(key), fileKey)))]
    },
  }
}

function rsaIdentity(k: Extract<SshPrivateKey, {type: 'ssh-rsa'}>): Identity {
  const big = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`)
  const d = big(k.d)
  const bytes = (v: bigint) => {
    const hex = v.toString(16)
    return new Uint8Array(Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex'))
  }
  const key = createPrivateKey({
    key: {kty: 'RSA', n: b64url(k.n), e: b64url(k.e), d: b64url(k.d), p: b64url(k.p), q: b64url(k.q), dp: b64url(bytes(d % (big(k.p) - 1n))), dq: b64url(bytes(d % (big(k.q) - 1n))), qi: b64url(k.iqmp)},
    format: 'jwk',
  })
  const tag = sshTag(k.public)
  return {
    unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
      for (const s of stanzas) {
        if (s.args[0] !== 'ssh-rsa' || s.args[1] !== tag) continue
        if (s.args.length !== 2) throw new Error('invalid ssh-rsa stanza')
        try {
          const fileKey = new Uint8Array(privateDecrypt(oaep(key), s.body))
          if (fileKey.length === FILE_KEY_BYTES) return fileKey
        } catch {
          // A tag shared by chance with another key: not ours.
        }
      }
      return null
    },
  }
}

function oaep(key: KeyObject) {
  return {key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: RSA_LABEL}
}

function b64url(b: Uint8Array): string {
  return base64urlnopad.encode(b)
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}
