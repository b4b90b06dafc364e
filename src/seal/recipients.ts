import {Encrypter} from 'age-encryption'

/**
 * Why `r` is not a usable recipient, or undefined. Only X25519 recipients (`age1…`) are
 * accepted: they are what `age-keygen` and Debian's `age` make and read.
 */
export function recipientProblem(r: string): string | undefined {
  if (!r.startsWith('age1') || r.startsWith('age1pq1') || r.startsWith('age1tag')) return `"${r.slice(0, 24)}" is not an age X25519 recipient`
  try {
    new Encrypter().addRecipient(r)
    return undefined
  } catch (error) {
    return `invalid age recipient: ${(error as Error).message}`
  }
}
