import jsYaml from 'js-yaml'

/**
 * The happy path's parse (issue 21.2): `yaml` gives every value its line and column, and that is
 * more than half of a plan of a 10,000-key file; js-yaml parses the same file about 10 times as
 * fast. So a file is parsed here first, and with `yaml` (load.ts, positions) only when something
 * must be located: a problem anywhere makes the caller start again on the `yaml` path, whose
 * verdict and diagnostics are the ones given. This path must therefore never accept what `yaml`
 * reads differently: it gives up (undefined) on anything outside the plain data of YAML 1.2's
 * core schema that the two could read apart, and a differential test holds its data to `yaml`'s on
 * the fixture corpus and on generated files (test/property/fast-yaml.test.ts).
 *
 * Given up on, so read by `yaml` alone:
 * - a directive (`%YAML 1.1` changes what `yes` means), an anchor or an alias (`*name`: yaml counts
 *   and limits them; js-yaml shares the node), any tag (`!!str`, `!`), a duplicate key, any syntax js-yaml refuses;
 * - a comment glued to a flow collection or a quoted scalar (`[]#`: one library reads it as a
 *   comment, the other refuses the line);
 * - a tab or a carriage return anywhere (where each library allows them differs in corners),
 *   a byte-order mark, or more than one document;
 * - mapping keys that are not plain strings after resolution (null, numbers, booleans), a
 *   collection as a key (`[a]: 1`) or an explicit key (`? a`), which the two libraries turn into
 *   object keys differently.
 */

/** The scalars of YAML 1.2's core schema, with exactly the tests and results `yaml` uses (its schema/core). */
const types = [
  new jsYaml.Type('tag:yaml.org,2002:null', {kind: 'scalar', resolve: (s: string) => /^(?:~|[Nn]ull|NULL)?$/.test(s), construct: () => null}),
  new jsYaml.Type('tag:yaml.org,2002:bool', {kind: 'scalar', resolve: (s: string) => /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s), construct: (s: string) => s[0] === 't' || s[0] === 'T'}),
  new jsYaml.Type('tag:yaml.org,2002:int', {
    kind: 'scalar',
    resolve: (s: string) => /^0o[0-7]+$/.test(s) || /^[-+]?[0-9]+$/.test(s) || /^0x[0-9a-fA-F]+$/.test(s),
    construct: (s: string) => (s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10)),
  }),
  new jsYaml.Type('tag:yaml.org,2002:float', {
    kind: 'scalar',
    resolve: (s: string) => /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/.test(s) || /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/.test(s) || /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/.test(s),
    construct: (s: string) => (/\.(?:nan|NaN|NAN)$/.test(s) ? Number.NaN : /\.(?:inf|Inf|INF)$/.test(s) ? (s[0] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY) : parseFloat(s)),
  }),
]
const SCHEMA = jsYaml.FAILSAFE_SCHEMA.extend({implicit: types})

/** What makes the fast path give up before it starts (see above). The rare characters are looked for first: a 2 MB file is scanned in a few milliseconds. */
function givesUp(text: string): boolean {
  if (text.includes('\t') || text.includes('\r') || text.includes('\uFEFF') || /^(?:%|---|\.\.\.)/m.test(text)) return true
  if (/[*!&?]/.test(text) && /(?:^|[\s,[{:-])[*!&]|^[\s-]*\?(?:\s|$)/m.test(text)) return true
  return /[\]}"']#|[\]}]\s*:(?:\s|$)/.test(text)
}

/** The file's data when the fast path can vouch that `yaml` reads the same; undefined when `yaml` must read it. */
export function fastYaml(text: string): {value: unknown} | undefined {
  if (givesUp(text) || !simpleLines(text)) return undefined
  let value: unknown
  try {
    value = jsYaml.load(text, {schema: SCHEMA, json: false})
  } catch {
    return undefined
  }
  return plainKeys(value) ? {value} : undefined
}

/**
 * Whether every line is one the two libraries read alike: a quoted scalar closes on the line it
 * opens on, no block scalar (`|`, `>`), and no line that continues the scalar of the line before
 * (after its indentation and `- ` marks, a line is a key, a flow collection or a comment, or an
 * item of a sequence). Where they differ is in multi-line scalars, so those are `yaml`'s alone.
 */
export function simpleLines(text: string): boolean {
  // Only \n ends a line here (givesUp refused \r): with U+2028 or U+2029 about, which a regular
  // expression's ^ and $ also take for line ends, every line is looked at one by one.
  if (text.includes('\u2028') || text.includes('\u2029')) return text.split('\n').every(simpleLine)
  // Else the regular expression engine skips the lines of the commonest shapes, which simpleLine
  // accepts (blank, a comment, `key:` or `key: value` with a plain key and no quote, | or >), and
  // each other line is looked at: the same verdict, several times faster on a large file.
  const hard = new RegExp(HARD_LINE.source, 'gm')
  for (let m = hard.exec(text); m; m = hard.exec(text)) {
    const end = text.indexOf('\n', m.index)
    if (!simpleLine(end < 0 ? text.slice(m.index) : text.slice(m.index, end))) return false
    if (end < 0) break
    hard.lastIndex = end + 1
  }
  return true
}

/** The start of a line that is not blank, a comment, `key:` or `key: value` with a plain key and a value without quotes, | or >. */
const HARD_LINE = /^(?! *(?:[A-Za-z0-9][^\s#:"'|>]*:(?: [^\n"'|>]*)?|#.*)?$)/

/** Whether a line is one the two libraries read alike (simpleLines; exported for its test). */
export function simpleLine(raw: string): boolean {
  let line = raw.trimStart()
  const item = /^(?:-(?: +|$))+/.exec(line)
  if (item) line = line.slice(item[0].length)
  if (line === '' || line.startsWith('#')) return true
  if (!item && !/^[[{]/.test(line) && !KEY.test(line)) return false
  return !(((line.includes('"') || line.includes("'")) && !quotesClose(line)) || ((line.includes('|') || line.includes('>')) && /(?:^|[:\s-])[|>][-+0-9]*\s*(?:#.*)?$/.test(line)))
}

/** A line that starts with a mapping key: a quoted key, or plain text up to `: ` or a final `:`. */
const KEY = /^(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"[\]{},&*!|>%@`][^#]*?)\s*:(?:\s|$)/

/** Whether each quoted scalar that starts on the line (after `:`, `-`, `[`, `{`, `,` or at its start) ends on it. */
function quotesClose(line: string): boolean {
  let start = true
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === '#' && (i === 0 || isSpace(line[i - 1]!))) return true
    if ((c === '"' || c === "'") && start) {
      let j = i + 1
      for (; j < line.length; j++) {
        if (c === '"' && line[j] === '\\') j++
        else if (line[j] === c) {
          if (c === "'" && line[j + 1] === "'") j++
          else break
        }
      }
      if (j >= line.length) return false
      i = j
      start = false
      continue
    }
    if (isSpace(c)) continue
    start = c === ':' || c === '-' || c === '[' || c === '{' || c === ','
  }
  return true
}

/** YAML's white space: a space or a tab (nothing else separates tokens). */
function isSpace(c: string): boolean {
  return c === ' ' || c === '\t'
}

/** Whether every mapping's keys came from strings (js-yaml turns a key `1`, `true` or `~` into text its own way). */
function plainKeys(v: unknown): boolean {
  if (Array.isArray(v)) return v.every(plainKeys)
  if (v === null || typeof v !== 'object') return true
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) if (NON_STRING_KEY.test(k) || !plainKeys(o[k])) return false
  return true
}

/** Keys that a core-schema scalar would have resolved to something else than a string, that js-yaml makes from collections, or that name Object's own properties (the libraries build such objects differently). */
const NON_STRING_KEY = /^(?:~|[Nn]ull|NULL|[Tt]rue|TRUE|[Ff]alse|FALSE|0o[0-7]+|[-+]?[0-9]+|0x[0-9a-fA-F]+|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|null|NaN|Infinity|-Infinity|\[object Object\]|__proto__|constructor|prototype|)$|,/
