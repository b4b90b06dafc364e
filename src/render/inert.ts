/**
 * Untrusted text reaches a terminal or Markdown through these two functions only. Any tenant
 * user sets the names and descriptions of their own keys, and a server answers what it likes:
 * shown raw, a name could erase lines and hide the summary on the screen where the operator
 * types "yes", or break out of a pull-request comment. Both views escape every control
 * character and cap the length; Markdown also neutralises Markdown and HTML.
 */

import {scrub} from '../util/scrub.js'

/** Longest untrusted string shown in full; the rest becomes "…(N more characters)". */
export const MAX_SHOWN = 300

/**
 * C0 controls (newline and tab included), DEL, C1 controls, and the invisible format
 * characters that reorder or hide text (BiDi embeddings, overrides and isolates, marks,
 * zero-width characters, the BOM).
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu

/** Whether `s` holds a character inertText would escape. */
export function hasUnsafe(s: string): boolean {
  return s.search(UNSAFE) >= 0
}

function cap(s: string, max: number): string {
  // Most strings are short: no array of code points for them (the renderers call this per row).
  if (s.length <= max) return s
  const chars = [...s]
  return chars.length <= max ? s : `${chars.slice(0, max).join('')}…(${chars.length - max} more characters)`
}

/**
 * Text for a terminal or log: secrets redacted first (escaping would change their form and
 * hide them from the scrubber), every unsafe character as a visible `\u{…}` escape, length capped.
 */
export function inertText(s: string, max = MAX_SHOWN): string {
  return cap(scrub(s), max).replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`)
}

/** A multi-line text (an error, a unified diff) with each line made inert, the line breaks kept. */
export function inertLines(text: string, max = 4000): string {
  return text
    .split('\n')
    .map((l) => inertText(l, max))
    .join('\n')
}

/** Text for Markdown (a table cell or a paragraph): inert as text, and no Markdown or HTML takes effect. */
export function inertMarkdown(s: string, max = MAX_SHOWN): string {
  return inertText(s, max)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_{}[\]()#!|~]/g, (c) => `\\${c}`)
}

/** Text inside a Markdown code span: no backtick can end it, no pipe can end a table cell. */
export function inertCode(s: string, max = MAX_SHOWN): string {
  return inertText(s, max).replace(/`/g, "'").replace(/\|/g, '\\|')
}
