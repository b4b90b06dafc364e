import type {DesiredState} from '../config/desired-state.js'
import {safeName} from './sealed-file.js'

export interface ValueList {
  recipients: string[]
  /** Where the list is declared (`seal.recipients`, `users["…"].seal.recipients`, …). */
  from: string
}

/**
 * The recipients lists of a desired file, indexed once (reseal and unseal ask per sealed file):
 * - `forKey`: whom a value of USER/NAME is sealed to now: the declared key's list, else its
 *   user's, else the file's (a key or user the file does not declare takes the nearest declared);
 * - `ofFile`: the declared key a sealed file's name points at (…/EMAIL/NAME--UID.age, names as
 *   safeName writes them), when exactly one does: for messages about files no identity opens.
 *   A name is data: this never decides what happens to a value.
 */
export function recipientLists(desired: DesiredState): {forKey(email: string, name: string): ValueList; ofFile(file: string): (ValueList & {key: string}) | undefined} {
  const users = new Map(desired.users.map((u) => [u.email.toLowerCase(), u]))
  const byFileName = new Map<string, Array<ValueList & {key: string}>>()
  for (const u of desired.users) {
    for (const k of u.keys) {
      const id = `${safeName(u.email)}/${safeName(k.name)}`
      byFileName.set(id, [...(byFileName.get(id) ?? []), {key: `${u.email}/${k.name}`, recipients: k.recipients, from: k.recipientsFrom}])
    }
  }
  return {
    forKey(email, name) {
      const user = users.get(email.toLowerCase())
      const key = user?.keys.find((k) => k.name === name)
      if (key) return {recipients: key.recipients, from: key.recipientsFrom}
      if (user) return {recipients: user.recipients, from: user.recipientsFrom}
      return {recipients: desired.seal.recipients, from: 'seal.recipients'}
    },
    ofFile(file) {
      const [folder, name] = file.split(/[/\\]/).slice(-2)
      if (folder === undefined || name === undefined || !name.includes('--')) return undefined
      const found = byFileName.get(`${folder}/${name.slice(0, name.lastIndexOf('--'))}`) ?? []
      return found.length === 1 ? found[0] : undefined
    },
  }
}
