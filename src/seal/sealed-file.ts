/** age-encryption is loaded on first use: most runs of most commands seal nothing, and it is a sixth of a command's start-up. */
const age = () => import('age-encryption')

/** The plaintext of a sealed file: everything needed to use and recognise the key. */
export interface SealedRecord {
  user: string
  name: string
  uid: string
  expiry: string
  host: string
  createdAt: string
  apiKey: string
  /** The declared `rotate` generation the key was made for (absent: 0). */
  generation?: number
}

const SEALED_SUFFIX = '.age'

/** ASCII-armored age ciphertext of the record, readable by `age -d -i IDENTITY`. */
export async function encryptRecord(record: SealedRecord, recipients: string[]): Promise<string> {
  const {armor, Encrypter} = await age()
  const e = new Encrypter()
  for (const r of recipients) e.addRecipient(r)
  return armor.encode(await e.encrypt(JSON.stringify(record, null, 2) + '\n'))
}

export class NotForUs extends Error {}

/** Decrypts a sealed file; throws NotForUs when none of the identities is a recipient. */
export async function decryptRecord(text: string, identities: string[]): Promise<SealedRecord> {
  const {armor, Decrypter} = await age()
  const d = new Decrypter()
  for (const i of identities) d.addIdentity(i)
  let plain: string
  try {
    plain = await d.decrypt(armor.decode(text), 'text')
  } catch (error) {
    if (/no identity matched/i.test((error as Error).message)) throw new NotForUs('sealed to other recipients')
    throw error
  }
  // Never a parser's message: it would quote the plaintext (possibly a value).
  let v: Partial<SealedRecord>
  try {
    v = JSON.parse(plain) as Partial<SealedRecord>
  } catch {
    throw new Error('its content is not a palette-keys record')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('its content is not a palette-keys record')
  for (const field of ['user', 'name', 'uid', 'apiKey', 'createdAt'] as const) {
    if (typeof v[field] !== 'string') throw new Error(`the sealed document lacks "${field}"`)
  }
  return v as SealedRecord
}

/**
 * `EMAIL/NAME--UID.age`: one folder per user, unique by uid (so never a git conflict), and
 * recognisable by uid when the key is deleted. A key made for a `rotate` generation above 0 is
 * `EMAIL/NAME--UID.gN.age`: the name is what the plan reads the generation from, since the file
 * reached the repository through CI and a key's own marks can be set by whoever holds the key.
 */
export function sealedRelativePath(record: Pick<SealedRecord, 'user' | 'name' | 'uid' | 'generation'>): string {
  const generation = record.generation ? `.g${record.generation}` : ''
  return `${safeName(record.user)}/${safeName(record.name)}--${safeName(record.uid)}${generation}${SEALED_SUFFIX}`
}

/**
 * The uid and generation a sealed file's name holds: after its last `--` (a key's name may hold
 * `--` too), up to an optional `.gN`. A uid holds no `.` or `-`.
 */
const SEALED_NAME = /--([^/.-]+)(?:\.g(\d{1,9}))?\.age$/

export function isSealedFileName(name: string): boolean {
  return name.endsWith(SEALED_SUFFIX) && !name.startsWith('.')
}

export function uidOfSealedFileName(name: string): string | undefined {
  return SEALED_NAME.exec(name)?.[1]
}

/** The `rotate` generation a sealed file's name holds (0 without `.gN`), undefined for a name that is not a sealed file's. */
export function generationOfSealedFileName(name: string): number | undefined {
  const m = SEALED_NAME.exec(name)
  return m ? Number(m[2] ?? 0) : undefined
}

/** A path segment from any text: no separators, no leading dots, at most 120 characters. */
export function safeName(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9._@+-]/g, '_').replace(/^\.+/, '_')
  return cleaned === '' ? '_' : cleaned.slice(0, 120)
}
