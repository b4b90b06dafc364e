import type {ErrorObject} from 'ajv'
import {createRequire} from 'node:module'
import type {Document, LineCounter, Node, Pair, YAMLMap} from 'yaml'
import {ExitCode} from '../util/exit-codes.js'
import {type Diagnostic, PaletteKeysError} from '../util/errors.js'

/**
 * Refuse larger inputs outright. A realistic desired-state file is about 260 bytes a key
 * (descriptions, comments): 16 MiB holds some 60,000 keys, six times the largest tenant the
 * bench plans; alias bombs are refused separately (MAX_ALIAS_COUNT).
 */
export const MAX_YAML_BYTES = 16 * 1024 * 1024
/** The tags of YAML 1.2's core schema: the only ones a file may name (`!!set`, `!!omap`, `!!binary`, `!custom` are refused). */
const YAML_ORG = 'tag:yaml.org,2002:'
const CORE_TAGS = new Set(['map', 'seq', 'str', 'null', 'bool', 'int', 'float'].map((t) => YAML_ORG + t))
/** yaml's guard against alias bombs ("billion laughs"). */
const MAX_ALIAS_COUNT = 100

export type PathSegment = string | number

/**
 * The `yaml` library, loaded on first use: a file the fast path reads (yaml/fast.ts) never needs
 * it, and loading it is a tenth of a plan's start-up. Synchronous (it ships CommonJS), so parsing stays so.
 */
let yamlLib: typeof import('yaml') | undefined
export function yaml(): typeof import('yaml') {
  return (yamlLib ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'))
}

export interface LoadedYaml {
  file: string
  value: unknown
  doc: Document.Parsed
  lineCounter: LineCounter
}

/**
 * Parses YAML keeping positions. Any syntax problem, duplicate key, alias bomb or
 * oversized input becomes a located diagnostic; all of them are thrown at once.
 */
export function parseYaml(text: string, file: string): LoadedYaml {
  const {isScalar, LineCounter, parseDocument, visit} = yaml()
  const lineCounter = new LineCounter()
  if (Buffer.byteLength(text, 'utf8') > MAX_YAML_BYTES) {
    throw invalidInput(file, [
      {file, line: 1, col: 1, path: '', code: 'yaml.too-large', message: `the file is larger than ${MAX_YAML_BYTES} bytes`},
    ])
  }
  const doc = parseDocument(text, {lineCounter, uniqueKeys: false, prettyErrors: false, strict: true, logLevel: 'silent'})
  const diagnostics: Diagnostic[] = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0])
    return {file, line: pos.line, col: pos.col, path: '', code: `yaml.${kebab(e.code)}`, message: firstLine(e.message)}
  })
  // Plain data only: a `!!set` under `keys:` made declared keys vanish (read as an empty mapping).
  const checkTag = (node: Node) => {
    // Tags outside yaml.org's have no resolver here: yaml reports them itself (tag-resolve-failed).
    if (node.tag === undefined || CORE_TAGS.has(node.tag) || !node.tag.startsWith(YAML_ORG)) return
    const pos = lineCounter.linePos(node.range?.[0] ?? 0)
    diagnostics.push({
      file,
      line: pos.line,
      col: pos.col,
      path: '',
      code: 'yaml.unsupported-tag',
      message: `the tag ${JSON.stringify('!!' + node.tag.slice(YAML_ORG.length, YAML_ORG.length + 40))} is not plain YAML 1.2 data`,
      hint: 'Remove the tag: write a plain mapping, list or scalar.',
    })
  }
  // Duplicate keys, with a set per mapping: yaml's own check (uniqueKeys) compares each key
  // with every earlier one, which took minutes for one mapping of 40,000 users.
  const checkKeys = (map: YAMLMap) => {
    const seen = new Set<string>()
    for (const pair of map.items) {
      if (!isScalar(pair.key)) continue
      const id = `${typeof pair.key.value}:${String(pair.key.value)}`
      if (!seen.has(id)) {
        seen.add(id)
        continue
      }
      const pos = lineCounter.linePos(pair.key.range?.[0] ?? 0)
      diagnostics.push({file, line: pos.line, col: pos.col, path: '', code: 'yaml.duplicate-key', message: 'Map keys must be unique'})
    }
  }
  visit(doc, {
    Map: (_key, map) => {
      checkTag(map)
      checkKeys(map)
    },
    Seq: (_key, node) => checkTag(node),
    Scalar: (_key, node) => checkTag(node),
  })
  if (diagnostics.length > 0) throw invalidInput(file, diagnostics)
  let value: unknown
  try {
    value = doc.toJS({maxAliasCount: MAX_ALIAS_COUNT})
  } catch (error) {
    throw invalidInput(file, [
      {file, line: 1, col: 1, path: '', code: 'yaml.alias-limit', message: firstLine((error as Error).message), hint: 'Expand the aliases (*name) into plain values.'},
    ])
  }
  return {file, value, doc, lineCounter}
}

/** The 1-based line and column of the value at `path` (or of its key, with `key: true`). */
export function locate(loaded: LoadedYaml, path: PathSegment[], options: {key?: boolean} = {}): {line: number; col: number} {
  const {isMap, isSeq} = yaml()
  let node: unknown = loaded.doc.contents
  let keyNode: unknown
  for (const seg of path) {
    if (isMap(node)) {
      const pair = pairsOf(node).get(String(seg))
      if (!pair) break
      keyNode = pair.key
      node = pair.value
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
      keyNode = undefined
      node = node.items[seg]
    } else break
  }
  const target = (options.key && keyNode ? keyNode : node ?? keyNode) as Node | undefined
  const offset = target?.range?.[0] ?? 0
  return loaded.lineCounter.linePos(offset)
}

/**
 * A mapping's pairs by key text (the first of equal keys, as a scan would find), built once per
 * mapping: a file with many problems locates each of them, and scanning a mapping of 32,000 users
 * for every one of them was quadratic (13 s of CPU). A parsed document is not changed after parsing.
 */
const PAIRS = new WeakMap<YAMLMap, Map<string, Pair>>()
function pairsOf(map: YAMLMap): Map<string, Pair> {
  let index = PAIRS.get(map)
  if (!index) {
    const {isPair, isScalar} = yaml()
    index = new Map()
    for (const p of map.items) {
      if (!isPair(p)) continue
      const k = isScalar(p.key) ? String(p.key.value) : String(p.key)
      if (!index.has(k)) index.set(k, p)
    }
    PAIRS.set(map, index)
  }
  return index
}

/** JSON Pointer (ajv's instancePath) → path segments; numeric segments become indexes. */
export function pointerToPath(pointer: string): PathSegment[] {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
}

/** `users[0].email` */
export function formatPath(path: PathSegment[]): string {
  return path
    .map((s, i) => (typeof s === 'number' ? `[${s}]` : /^[A-Za-z_][\w-]*$/.test(s) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`))
    .join('')
}

/** Stable diagnostic codes for ajv keywords; formats get their own (`invalid-email`, …). */
const KEYWORD_CODES: Record<string, string> = {
  additionalProperties: 'unknown-field',
  required: 'missing-field',
  type: 'wrong-type',
  const: 'invalid-value',
  enum: 'invalid-value',
  pattern: 'invalid-value',
  minLength: 'invalid-value',
  maxLength: 'invalid-value',
  minimum: 'out-of-range',
  maximum: 'out-of-range',
  uniqueItems: 'duplicate-item',
}
const FORMAT_CODES: Record<string, string> = {'duration-or-zero': 'invalid-duration'}

/** ajv errors → located diagnostics with stable codes. `hints` adds advice per code. */
export function schemaDiagnostics(loaded: LoadedYaml, errors: ErrorObject[], hints: Record<string, string> = {}): Diagnostic[] {
  const out: Diagnostic[] = []
  for (const e of errors) {
    // A bad mapping key (propertyNames) is reported by the inner keyword, at the key itself.
    if (e.keyword === 'propertyNames') continue
    const base = pointerToPath(e.instancePath)
    let path = base
    let message = e.message ?? 'is invalid'
    let key = false
    let code = KEYWORD_CODES[e.keyword] ?? `schema.${kebab(e.keyword)}`
    let hint: string | undefined
    if (e.propertyName !== undefined) {
      path = [...base, e.propertyName]
      key = true
      message = `name "${e.propertyName}" ${message}`
    }
    if (e.keyword === 'additionalProperties') {
      const prop = String((e.params as {additionalProperty: string}).additionalProperty)
      path = [...base, prop]
      message = `unknown field "${prop}"`
      key = true
      const allowed = Object.keys((e.parentSchema as {properties?: object} | undefined)?.properties ?? {})
      if (allowed.length > 0) hint = `allowed here: ${allowed.join(', ')}`
    } else if (e.keyword === 'required') {
      message = `missing required field "${(e.params as {missingProperty: string}).missingProperty}"`
    } else if (e.keyword === 'enum') {
      message = `must be one of ${(e.params as {allowedValues: unknown[]}).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
    } else if (e.keyword === 'const') {
      message = `must be ${JSON.stringify((e.params as {allowedValue: unknown}).allowedValue)}`
    } else if (e.keyword === 'format') {
      const format = String((e.params as {format: string}).format)
      code = FORMAT_CODES[format] ?? `invalid-${format}`
    }
    const pos = locate(loaded, path, {key})
    out.push({file: loaded.file, line: pos.line, col: pos.col, path: formatPath(path), code, message, hint: hints[code] ?? hint})
  }
  return out
}

export function invalidInput(file: string, diagnostics: Diagnostic[]): PaletteKeysError {
  const n = diagnostics.length
  return new PaletteKeysError(`${file}: ${n} problem${n === 1 ? '' : 's'}`, {
    code: 'invalid-input',
    exitCode: ExitCode.InvalidInput,
    diagnostics: [...diagnostics].sort((a, b) => a.line - b.line || a.col - b.col),
  })
}

function kebab(s: string): string {
  return s
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase()
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s
}
