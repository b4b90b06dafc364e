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
  if (!r.startsWith('age1') || r.startsWith('age1pq1') || r.startsWith('age1tag')) return `"${r.slice(0, 24)}" is not an age X25519 recipient`
  try {
    const {prefix, bytes} = bech32.decodeToBytes(r)
    if (prefix.toLowerCase() !== 'age' || bytes.length !== 32) return 'invalid age recipient: invalid recipient'
    return undefined
  } catch (error) {
    return `invalid age recipient: ${(error as Error).message}`
  }
}
