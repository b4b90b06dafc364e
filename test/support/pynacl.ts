import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'

/**
 * Opens GitHub-style sealed boxes with Debian's python3-nacl (PyNaCl, over libsodium's C library):
 * an implementation palette-keys does not use (it seals with libsodium-wrappers, the WebAssembly
 * build), so a test that opens a delivered secret checks the wire format, not our own round trip.
 */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
const OPEN = 'import base64,sys,nacl.public\nsk,ct=sys.stdin.read().split()\nsys.stdout.write(nacl.public.SealedBox(nacl.public.PrivateKey(base64.b64decode(sk))).decrypt(base64.b64decode(ct)).decode())'

/** Whether PyNaCl is installed. In CI its absence is a failure, not a skip. */
export function havePyNacl(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import nacl.public'], {stdio: 'ignore'})
    return true
  } catch {
    if (process.env.CI) throw new Error('python3-nacl is missing: .ci/run must install it (apt-get install python3-nacl)')
    return false
  }
}

/** The plaintext of a sealed box (base64), opened with a raw X25519 private key. */
export function openSealedBox(privateKey: Buffer, sealedBase64: string): string {
  return execFileSync(PYTHON, ['-c', OPEN], {input: `${privateKey.toString('base64')} ${sealedBase64}`}).toString('utf8')
}

const SEAL = 'import base64,sys,nacl.public\npk,msg=sys.stdin.read().split()\nsys.stdout.write(base64.b64encode(nacl.public.SealedBox(nacl.public.PublicKey(base64.b64decode(pk))).encrypt(msg.encode())).decode())'

/** A sealed box (base64) of `plaintext` (no whitespace) to a base64 X25519 public key, made by PyNaCl. */
export function sealBox(publicKeyBase64: string, plaintext: string): string {
  return execFileSync(PYTHON, ['-c', SEAL], {input: `${publicKeyBase64} ${plaintext}`}).toString('utf8')
}
