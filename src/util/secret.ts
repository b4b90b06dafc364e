import {inspect} from 'node:util'

const SENSITIVE = '(sensitive)'

/**
 * A secret string (an API key value) that renders as `(sensitive)` everywhere it could
 * leak by accident: string interpolation, JSON.stringify, console.log / util.inspect.
 * Only `reveal()` gives the value, so every use of it is visible in the code.
 */
export class Secret {
  readonly #value: string

  constructor(value: string) {
    this.#value = value
  }

  reveal(): string {
    return this.#value
  }

  toString(): string {
    return SENSITIVE
  }

  toJSON(): string {
    return SENSITIVE
  }

  [inspect.custom](): string {
    return SENSITIVE
  }
}

/** Replaces every occurrence of each secret in `text` by `(redacted)`. */
export function redact(text: string, secrets: ReadonlyArray<Secret | string | undefined>): string {
  let out = text
  for (const s of secrets) {
    const value = s instanceof Secret ? s.reveal() : s
    // Very short values would redact ordinary words; real key values are long.
    if (value && value.length >= 6) out = out.split(value).join('(redacted)')
  }
  return out
}
