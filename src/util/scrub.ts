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

const values = new Set<string>()
let pattern: RegExp | undefined

export function registerSecret(value: string): void {
  if (value.length < MIN_LENGTH || values.has(value)) return
  values.add(value)
  pattern = undefined
}

function forms(v: string): string[] {
  const bytes = Buffer.from(v, 'utf8')
  return [v, encodeURIComponent(v), JSON.stringify(v).slice(1, -1), bytes.toString('base64'), bytes.toString('base64url')]
}

export function scrub(text: string): string {
  if (values.size === 0) return text
  if (!pattern) {
    const all = [...new Set([...values].flatMap(forms))].filter((f) => f.length >= MIN_LENGTH).sort((a, b) => b.length - a.length)
    pattern = new RegExp(all.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi')
  }
  return text.replace(pattern, REDACTED)
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
