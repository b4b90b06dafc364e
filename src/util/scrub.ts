/**
 * The one scrubber every output of the process passes: stdout, stderr (so every log line,
 * error, trace and `--json` document) and the files palette-keys writes in the clear (plans,
 * exports). It knows the tool's own API key and every key value created in this run, and
 * redacts them in the forms a server might echo them in: as they are, in any letter case,
 * URL-encoded, JSON-escaped, base64 and base64url.
 *
 * `unseal` registers nothing: printing the values it opened is its job.
 */
const REDACTED = '(redacted)'
/** Shorter values would redact ordinary words; real key values are long. */
const MIN_LENGTH = 6

/**
 * The forms are found through an index that grows by one entry a form, never rebuilt: each form
 * is filed under a hash of its first MIN_LENGTH characters (ASCII letters folded to lower case),
 * and scrub() rolls that hash along the text once, comparing the whole form only where a hash
 * hits. Its cost is the text's length (plus the hits), whatever the number of values; a regex
 * of every form, rebuilt after each created value, made an apply quadratic in its creates.
 * Letter case is folded for ASCII only: a form holding another character is kept in a small
 * regex instead (case-insensitive as before), which no value from Palette (plain tokens) needs.
 */
const values = new Set<string>()
/** hash of a form's first MIN_LENGTH folded characters → its forms (folded), longest first. */
const index = new Map<number, string[]>()
const otherForms = new Set<string>()
let otherPattern: RegExp | undefined

const BASE = 0x01000193

function fold(code: number): number {
  return code >= 65 && code <= 90 ? code + 32 : code
}

/** The hash of MIN_LENGTH folded characters from `at`. */
function hashAt(text: string, at: number): number {
  let h = 0
  for (let i = at; i < at + MIN_LENGTH; i++) h = (Math.imul(h, BASE) + fold(text.charCodeAt(i))) >>> 0
  return h
}

/** BASE^(MIN_LENGTH-1) mod 2^32: what the leaving character weighs in a rolled hash. */
const LEAVING = (() => {
  let p = 1
  for (let i = 1; i < MIN_LENGTH; i++) p = Math.imul(p, BASE) >>> 0
  return p
})()

export function registerSecret(value: string): void {
  if (value.length < MIN_LENGTH || values.has(value)) return
  values.add(value)
  for (const form of forms(value)) {
    if (form.length < MIN_LENGTH) continue
    if (/[^\x00-\x7f]/.test(form)) {
      otherForms.add(form)
      otherPattern = undefined
      continue
    }
    // ASCII only here, so toLowerCase folds exactly what fold() does.
    const folded = form.toLowerCase()
    const h = hashAt(folded, 0)
    const bucket = index.get(h)
    if (!bucket) index.set(h, [folded])
    else if (!bucket.includes(folded)) {
      bucket.push(folded)
      bucket.sort((a, b) => b.length - a.length)
    }
  }
}

function forms(v: string): string[] {
  const bytes = Buffer.from(v, 'utf8')
  return [v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1), bytes.toString('base64'), bytes.toString('base64url')]
}

/** The longest registered form that starts at `at` (folded comparison), or 0. */
function matchAt(text: string, at: number, bucket: string[]): number {
  for (const form of bucket) {
    if (at + form.length > text.length) continue
    let i = 0
    while (i < form.length && fold(text.charCodeAt(at + i)) === form.charCodeAt(i)) i++
    if (i === form.length) return form.length
  }
  return 0
}

export function scrub(text: string): string {
  if (values.size === 0) return text
  let out = ''
  let copied = 0
  if (text.length >= MIN_LENGTH && index.size > 0) {
    let at = 0
    let h = hashAt(text, 0)
    while (at + MIN_LENGTH <= text.length) {
      const bucket = index.get(h)
      const length = bucket ? matchAt(text, at, bucket) : 0
      if (length > 0) {
        out += text.slice(copied, at) + REDACTED
        at += length
        copied = at
        if (at + MIN_LENGTH <= text.length) h = hashAt(text, at)
        continue
      }
      if (at + MIN_LENGTH < text.length) {
        h = (Math.imul((h - Math.imul(fold(text.charCodeAt(at)), LEAVING)) >>> 0, BASE) + fold(text.charCodeAt(at + MIN_LENGTH))) >>> 0
      }
      at++
    }
  }
  const result = copied === 0 ? text : out + text.slice(copied)
  if (otherForms.size === 0) return result
  otherPattern ??= new RegExp(
    [...otherForms]
      .sort((a, b) => b.length - a.length)
      .map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('|'),
    'gi',
  )
  return result.replace(otherPattern, REDACTED)
}

let installed = false
/** Routes everything written to stdout and stderr through scrub(), once per process. */
export function scrubStandardStreams(): void {
  if (installed) return
  installed = true
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (values.size === 0) return write(chunk, ...rest)
      if (typeof chunk === 'string') return write(scrub(chunk), ...rest)
      if (chunk instanceof Uint8Array) return write(Buffer.from(scrub(Buffer.from(chunk).toString('utf8')), 'utf8'), ...rest)
      return write(chunk, ...rest)
    }) as typeof stream.write
  }
}
