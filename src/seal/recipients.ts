import {bech32} from '@scure/base'

/**
 * Why `r` is not a usable recipient, or undefined. Only X25519 recipients (`age1…`) are
 * accepted: they are what `age-keygen` and Debian's `age` make and read.
 *
 * The check is age-encryption's own for an X25519 recipient (bech32, prefix "age", 32 bytes;
 * a unit test holds the two to the same answers), done with the bech32 library it uses, so
 * that `validate` and `plan` need not load age-encryption and its post-quantum code (about
 * 0.1 s of start-up): only commands that seal or unseal do.
 */
export function recipientProblem(r: string): string | undefined {
  // Never echo any of it: it is a secret, and whoever reads the file has it now.
  if (/^age-secret-key-/i.test(r.trim())) return 'this is a private age identity (AGE-SECRET-KEY-1…), not a recipient: remove it, and treat it as exposed (make a new identity and re-seal to it)'
  if (!r.startsWith('age1') || r.startsWith('age1pq1') || r.startsWith('age1tag')) return `"${r.slice(0, 24)}" is not an age X25519 recipient`
  try {
    const {prefix, bytes} = bech32.decodeToBytes(r)
    if (prefix.toLowerCase() !== 'age' || bytes.length !== 32) return 'invalid age recipient: invalid recipient'
    return undefined
  } catch (error) {
    return `invalid age recipient: ${(error as Error).message}`
  }
}

/**
 * The recipient of examples/demo-identity.txt. Its identity ships in the package, so values
 * sealed to it are readable by anyone: it is accepted only for a loopback host (the emulator).
 */
export const DEMO_RECIPIENT = 'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c'

/**
 * Seals a few bytes to each recipient, as apply will: a recipient that decodes but cannot be
 * sealed to (a crafted low-order point) fails here, not after apply's first changes. Loads
 * age-encryption, so only the commands that need it call this.
 */
export async function trialSealProblems(recipients: string[]): Promise<Array<{index: number; problem: string}>> {
  const {Encrypter} = await import('age-encryption')
  const out: Array<{index: number; problem: string}> = []
  for (const [index, r] of recipients.entries()) {
    try {
      const e = new Encrypter()
      e.addRecipient(r)
      await e.encrypt('palette-keys trial seal')
    } catch {
      out.push({index, problem: 'nothing can be sealed to this recipient (not a usable X25519 public key)'})
    }
  }
  return out
}
