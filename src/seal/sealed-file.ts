import {base64nopad} from '@scure/base'
import {encrypterRecipient, recipientFingerprint, recipientKind, recipientLabel, type RecipientKind, STANZA_OF_KIND} from './recipients.js'
import type {SshPrivateKey} from './ssh-key.js'

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

/** One recipient as a sealed file records it: public facts only (never an identity). */
export interface SealedToEntry {
  fp: string
  label: string
  kind: RecipientKind
}

/**
 * Whom a sealed value is sealed to, recorded in the file's own age header as one more stanza
 * (age readers skip stanza types they do not know; the header's MAC, keyed by the file key,
 * covers it, so whoever opens the file knows it is the sealer's). `plan` reads it without an
 * identity, as data: it is checked against the header's recipient stanzas (count and kinds), and
 * a file without one is "unrecorded", never assumed current.
 * - `to`: the recipients this file is sealed to;
 * - `was`: recipients earlier files of the same value were sealed to and this one is not (a
 *   `reseal` dropped them): they may keep a copy (git history), so a removal still rotates it;
 * - `unrecordedBefore`: a `reseal` re-sealed a file that had no record: who could read it before is unknown.
 */
export interface SealedTo {
  to: SealedToEntry[]
  was: SealedToEntry[]
  unrecordedBefore?: true
}

/** A stanza of an age header, as age-encryption parses it. */
type HeaderStanza = {args: string[]; body: Uint8Array}

export const SEALED_TO_STANZA = 'github.com/palette-keys/palette-keys/sealed-to'

/** The entries of a list of recipients, sorted by fingerprint, without repeats. */
export function sealedToEntries(recipients: string[]): SealedToEntry[] {
  const byFp = new Map(recipients.map((r) => [recipientFingerprint(r), {fp: recipientFingerprint(r), label: recipientLabel(r), kind: recipientKind(r)}]))
  return [...byFp.values()].sort((a, b) => (a.fp < b.fp ? -1 : 1))
}

/** ASCII-armored age ciphertext of the record, readable by `age -d -i IDENTITY`, recording whom it is sealed to. */
export async function encryptRecord(record: SealedRecord, recipients: string[], earlier: Omit<SealedTo, 'to'> = {was: []}): Promise<string> {
  const {armor, Encrypter, Stanza} = await age()
  const e = new Encrypter()
  for (const r of recipients) e.addRecipient(await encrypterRecipient(r))
  const sealedTo: SealedTo = {to: sealedToEntries(recipients), was: earlier.was, ...(earlier.unrecordedBefore ? {unrecordedBefore: true} : {})}
  const body = new TextEncoder().encode(JSON.stringify(sealedTo))
  e.addRecipient({wrapFileKey: () => [new Stanza([SEALED_TO_STANZA, 'v1'], body)]})
  return armor.encode(await e.encrypt(JSON.stringify(record, null, 2) + '\n'))
}

/** What a sealed file's header says of its recipients: the record, or why there is none to use. */
export type HeaderReading = {sealedTo: SealedTo; problem?: undefined} | {sealedTo?: undefined; problem: string}

/**
 * Reads a sealed file's header without an identity (age-encryption parses it: an identity that
 * only looks at the stanzas and matches none). The record is data: well-formed, one entry per
 * recipient stanza, of the same kinds, or it is not used.
 */
export async function readSealedTo(text: string): Promise<HeaderReading> {
  const {armor} = await age()
  let header: Uint8Array
  try {
    // The header alone (up to its MAC line): the payload is not needed to read it.
    header = headerOf(armor.decode(text))
  } catch {
    return {problem: 'not an age file palette-keys can read'}
  }
  // A header as age-encryption writes it is read here; anything else by the library's own parser.
  const stanzas = plainHeaderStanzas(header)
  return stanzas ? sealedToOf(stanzas) : readSealedToWithLibrary(header)
}

/** The header read by age-encryption's parser (through a Decrypter and an identity that opens nothing): the reference, and the path for any header plainHeaderStanzas does not vouch for. */
export async function readSealedToWithLibrary(header: Uint8Array): Promise<HeaderReading> {
  const {Decrypter} = await age()
  const d = new Decrypter()
  const recorder = headerRecorder()
  d.addIdentity(recorder)
  try {
    await d.decryptHeader(header)
  } catch {
    // "no identity matched" once the header parsed; anything else leaves the stanzas unread.
  }
  return recorder.stanzas ? sealedToOf(recorder.stanzas) : {problem: 'not an age file palette-keys can read'}
}

/**
 * The stanzas of an age v1 header, read synchronously, when it is plainly one: age-encryption's
 * parser reads through web streams, about 0.1 ms a file, which was most of a plan's time with a
 * seal folder of 10,000 files. This reader follows that parser's rules (ASCII lines, the version
 * line, `-> ` stanzas of non-empty arguments, bodies of unpadded base64 lines of at most 48 bytes,
 * ended by a shorter one, the `--- ` MAC line) and gives up (undefined) on anything else, which the
 * library then reads; a differential test holds the two to the same stanzas
 * (test/property/age-header.test.ts).
 */
export function plainHeaderStanzas(header: Uint8Array): HeaderStanza[] | undefined {
  const lines: string[] = []
  let start = 0
  for (let i = 0; i < header.length; i++) {
    const b = header[i]!
    if (b === 10) {
      lines.push(Buffer.from(header.buffer, header.byteOffset + start, i - start).toString('latin1'))
      start = i + 1
    } else if (b < 32 || b > 126) return undefined
  }
  // Up to the MAC line's end, as headerOf cuts it: nothing may follow.
  if (start !== header.length || lines[0] !== 'age-encryption.org/v1') return undefined
  const stanzas: HeaderStanza[] = []
  let n = 1
  try {
    while (n < lines.length) {
      const args = lines[n]!.split(' ')
      if (args.length < 2 || args[0] !== '->') {
        // The MAC line, and the last line.
        if (!lines[n]!.startsWith('--- ') || n !== lines.length - 1) return undefined
        base64nopad.decode(lines[n]!.slice(4))
        return stanzas
      }
      args.shift()
      if (args.some((a) => a.length === 0)) return undefined
      const body: Uint8Array[] = []
      for (;;) {
        n++
        if (n >= lines.length) return undefined
        const part = base64nopad.decode(lines[n]!)
        if (part.length > 48) return undefined
        body.push(part)
        if (part.length < 48) break
      }
      stanzas.push({args, body: Buffer.concat(body)})
      n++
    }
  } catch {
    return undefined
  }
  return undefined
}

/**
 * An identity that opens nothing and keeps the stanzas age-encryption parsed from the header: added
 * first to a Decrypter, it lets the header be read with the library's own parser.
 */
function headerRecorder(): {stanzas?: HeaderStanza[]; unwrapFileKey(s: HeaderStanza[]): null} {
  return {
    unwrapFileKey(s) {
      this.stanzas = s
      return null
    },
  }
}

/** The bytes of an age file up to the end of its MAC line (`--- …\n`); the whole file when there is none (the parser then says why). */
function headerOf(file: Uint8Array): Uint8Array {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength)
  const mac = bytes.indexOf('\n--- ')
  const end = mac < 0 ? -1 : bytes.indexOf('\n', mac + 1)
  return end < 0 ? file : file.subarray(0, end + 1)
}

const FINGERPRINT = /^[0-9a-f]{16}$/
const KINDS = Object.keys(STANZA_OF_KIND) as RecipientKind[]

function sealedToOf(stanzas: HeaderStanza[]): HeaderReading {
  const records = stanzas.filter((s) => s.args[0] === SEALED_TO_STANZA)
  if (records.length === 0) return {problem: 'no record of its recipients (sealed before palette-keys recorded them, or by another tool)'}
  if (records.length > 1 || records[0]!.args[1] !== 'v1') return {problem: 'its record of recipients is not one palette-keys wrote'}
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(records[0]!.body))
  } catch {
    return {problem: 'its record of recipients is not one palette-keys wrote'}
  }
  const v = raw as Partial<SealedTo>
  const entries = (x: unknown): SealedToEntry[] | undefined => {
    if (!Array.isArray(x) || x.length > 1000) return undefined
    const ok = x.every((e: Partial<SealedToEntry>) => e !== null && typeof e === 'object' && typeof e.fp === 'string' && FINGERPRINT.test(e.fp) && typeof e.label === 'string' && e.label.length <= 200 && KINDS.includes(e.kind as RecipientKind))
    return ok ? (x as SealedToEntry[]).map((e) => ({fp: e.fp, label: e.label, kind: e.kind})) : undefined
  }
  const to = entries(v?.to)
  const was = entries(v?.was ?? [])
  if (!to || !was || to.length === 0 || new Set(to.map((e) => e.fp)).size !== to.length) return {problem: 'its record of recipients is not one palette-keys wrote'}
  // One entry per recipient stanza, kind by kind: a record that claims other recipients than the header holds is not used.
  for (const kind of KINDS) {
    const stanzaCount = stanzas.filter((s) => s.args[0] === STANZA_OF_KIND[kind]).length
    if (stanzaCount !== to.filter((e) => e.kind === kind).length) return {problem: 'its record of recipients does not match its header (edited, or written by another tool): not used'}
  }
  return {sealedTo: {to, was, ...(v.unrecordedBefore === true ? {unrecordedBefore: true} : {})}}
}

export class NotForUs extends Error {}

/** Decrypts a sealed file; throws NotForUs when none of the identities is a recipient. */
export async function decryptRecord(text: string, identities: OpeningIdentity[]): Promise<SealedRecord> {
  return (await openSealed(text, identities)).record
}

/** An identity unseal and reseal open files with: an age identity string, or an SSH private key (seal/ssh.ts opens with it). */
export type OpeningIdentity = string | SshPrivateKey

/**
 * Decrypts a sealed file and reads its header's record of recipients (authentic once the file
 * opens: the header MAC covers it); throws NotForUs when none of the identities is a recipient.
 */
export async function openSealed(text: string, identities: OpeningIdentity[]): Promise<{record: SealedRecord; header: HeaderReading}> {
  const {armor, Decrypter} = await age()
  const d = new Decrypter()
  const header = headerRecorder()
  d.addIdentity(header)
  for (const i of identities) d.addIdentity(typeof i === 'string' ? i : (await import('./ssh.js')).sshIdentity(i))
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
  return {record: v as SealedRecord, header: sealedToOf(header.stanzas ?? [])}
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
