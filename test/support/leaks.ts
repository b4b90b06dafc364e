/**
 * The suite-wide leak scanner's two halves.
 *
 * While the suites run, every output they see (each CLI process's stdout and stderr, each
 * emulator process's output, the files the tool wrote, console output) is appended to a
 * transcript in reports/outputs/, and every API key value the test emulators know (seeded or
 * issued, in this process) is registered there by its SHA-256 (never the value).
 *
 * After every suite, test/leaks/scan.test.ts reads all of it and fails on any known value, and
 * on any token shaped like a value the emulator issues (43 base64url characters), which covers
 * keys created by emulator processes the test process cannot see into.
 */
import {createHash, randomBytes} from 'node:crypto'
import {appendFileSync, mkdirSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {rm} from 'node:fs/promises'
import {basename, join, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import type {Seed} from '../../src/emulator/seed.js'

export const OUTPUTS_DIR = fileURLToPath(new URL('../../reports/outputs/', import.meta.url))

/** One transcript file per test process: appends never interleave. */
const stamp = `${process.pid}-${randomBytes(4).toString('hex')}`
let ready = false
function append(kind: 'transcript' | 'secrets', line: unknown): void {
  if (!ready) {
    mkdirSync(OUTPUTS_DIR, {recursive: true})
    ready = true
  }
  appendFileSync(join(OUTPUTS_DIR, `${kind}-${stamp}.jsonl`), JSON.stringify(line) + '\n')
}

export interface TranscriptEntry {
  /** What produced it: "cli plan -f …", "emulator stderr", "file …". */
  source: string
  /** The test that saw it, when known. */
  test?: string
  text: string
}

let currentTest: () => string | undefined = () => undefined
/** The setup file tells us how to name the running test. */
export function nameTestsWith(f: () => string | undefined): void {
  currentTest = f
}

/** Adds an output to the transcript that the final scan reads. */
export function recordOutput(source: string, text: string | Buffer | undefined): void {
  const s = text === undefined ? '' : text.toString()
  if (s === '') return
  append('transcript', {source, test: currentTest(), text: s} satisfies TranscriptEntry)
}

const inputs = new Set<string>()
/** A file a test wrote holding key values on purpose (a seed): input, not output, so not scanned. */
export function markInput(path: string): void {
  inputs.add(resolve(path))
}

/** Records every file under `dir` the tool may have written (sealed files excepted: they are the one place values belong, encrypted). */
export function recordTree(dir: string, label = 'file'): void {
  let names: string[]
  try {
    names = readdirSync(dir, {recursive: true}) as string[]
  } catch {
    return
  }
  for (const name of names) {
    const path = join(dir, name)
    // npm's lockfiles are npm's output, not the tool's: its integrity hashes can look like an issued value by chance.
    if (name.endsWith('.age') || name.endsWith('package-lock.json') || name.endsWith('npm-shrinkwrap.json') || name.split('/').includes('node_modules') || inputs.has(resolve(path))) continue
    try {
      if (!statSync(path).isFile() || statSync(path).size > 5_000_000) continue
      recordOutput(`${label} ${relative(dir, path)}`, readFileSync(path))
    } catch {
      // removed meanwhile, or not readable (a test's blocked folder): nothing the tool printed
    }
  }
}

export function registerSeed(seed: Seed, origin: string): void {
  for (const u of seed.users ?? []) for (const k of u.apiKeys ?? []) registerSecret(k.value, `seeded (${origin})`)
}

/** A test's temporary folder, recorded for the scan, then removed. */
export async function recordAndRemove(dir: string): Promise<void> {
  recordTree(dir, `file in ${basename(dir)}:`)
  await rm(dir, {recursive: true, force: true})
}

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')

const registered = new Set<string>()
/** Registers an API key value (by hash) as one that must never appear in any output. */
export function registerSecret(value: string, origin: string): void {
  if (value === '') return
  const hash = sha256(value)
  if (registered.has(hash)) return
  registered.add(hash)
  append('secrets', {sha256: hash, length: value.length, origin})
}

/** The shape of a value the emulator issues: 32 random bytes, base64url. */
export const ISSUED_VALUE = /^[A-Za-z0-9_-]{43}$/
/** Tokens are maximal runs of the characters key values are made of. */
const TOKEN = /[A-Za-z0-9_-]+/g

export interface Leak {
  source: string
  test?: string
  /** Never the value: its hash prefix and where it was. */
  what: string
  line: number
  column: number
}

/**
 * Every known value (by hash) and every issued-value-shaped token in `entry`. Values are made
 * of [A-Za-z0-9_-] (issued ones are base64url; seeded ones in these tests too), so a leak is
 * always one whole token, or a token's suffix or prefix when glued to a neighbour; both ends
 * are tried for each known length.
 */
export function findLeaks(entry: TranscriptEntry, known: Map<string, string>, lengths: number[]): Leak[] {
  const leaks: Leak[] = []
  for (const m of entry.text.matchAll(TOKEN)) {
    const token = m[0]
    const at = m.index
    const hit = (what: string, offset: number) => {
      const before = entry.text.slice(0, at + offset)
      const line = before.split('\n').length
      leaks.push({source: entry.source, test: entry.test, what, line, column: at + offset - before.lastIndexOf('\n')})
    }
    let found = false
    for (const n of lengths) {
      if (token.length < n) continue
      for (const offset of token.length === n ? [0] : [0, token.length - n]) {
        const origin = known.get(sha256(token.slice(offset, offset + n)))
        if (origin) {
          hit(`a ${origin} value (sha256 ${sha256(token.slice(offset, offset + n)).slice(0, 12)}…)`, offset)
          found = true
          break
        }
      }
      if (found) break
    }
    if (!found && ISSUED_VALUE.test(token)) hit(`a token shaped like an issued key value (sha256 ${sha256(token).slice(0, 12)}…)`, 0)
  }
  return leaks
}

export function readOutputs(): {entries: TranscriptEntry[]; known: Map<string, string>; lengths: number[]} {
  const entries: TranscriptEntry[] = []
  const known = new Map<string, string>()
  const lengths = new Set<number>()
  let files: string[] = []
  try {
    files = readdirSync(OUTPUTS_DIR)
  } catch {
    // nothing ran before the scan
  }
  for (const f of files) {
    const lines = readFileSync(join(OUTPUTS_DIR, f), 'utf8').split('\n').filter(Boolean)
    for (const l of lines) {
      const v = JSON.parse(l) as TranscriptEntry & {sha256?: string; origin?: string; length?: number}
      if (f.startsWith('secrets-')) {
        known.set(v.sha256!, v.origin!)
        lengths.add(v.length!)
      } else entries.push(v)
    }
  }
  return {entries, known, lengths: [...lengths].sort((a, b) => b - a)}
}
