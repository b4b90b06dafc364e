import {createHash} from 'node:crypto'
import {existsSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {basename} from 'node:path'
import type {Ajv, Options, ValidateFunction} from 'ajv'
import {DURATION_OR_ZERO_PATTERN, DURATION_PATTERN} from './formats.js'
import {packagePath} from './paths.js'

// ajv is loaded only when a schema must be compiled here: the schemas in schemas/ are
// compiled at build time (scripts/validators.js), and loading ajv and compiling the
// desired-state schema took about 0.1 s of every command's start-up.
const require = createRequire(import.meta.url)

/** Formats beyond ajv-formats' full set. The build writes the same ones into dist/validators/formats.cjs. */
export const CUSTOM_FORMATS: Record<string, RegExp> = {duration: DURATION_PATTERN, 'duration-or-zero': DURATION_OR_ZERO_PATTERN}

/** The options every validator of schemas/ is compiled with, at build time and here alike. */
export const SCHEMA_OPTIONS: Options = {allErrors: true, strict: true, allowUnionTypes: true, verbose: true}

/** One configuration for every validator in the project: all errors, standard formats and ours. */
export function createAjv(overrides: Options = {}): Ajv {
  const {Ajv} = require('ajv') as typeof import('ajv')
  const addFormats = require('ajv-formats') as typeof import('ajv-formats').default
  const ajv = new Ajv({allErrors: true, strict: true, allowUnionTypes: true, ...overrides})
  addFormats(ajv)
  for (const [name, pattern] of Object.entries(CUSTOM_FORMATS)) ajv.addFormat(name, pattern)
  return ajv
}

/** Where the build puts the compiled validator of `schemas/NAME.schema.json`. */
export function precompiledPath(file: string): string {
  return packagePath(`dist/validators/${basename(file, '.schema.json')}.cjs`)
}

export function schemaHash(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

const compiled = new Map<string, ValidateFunction>()

/**
 * The validator of a schema file shipped in `schemas/`: the one compiled at build time
 * when it was compiled from this very schema text, else compiled here; then kept.
 * `verbose` keeps the parent schema in errors (for "allowed fields" hints).
 */
export function schemaValidator(file: string): ValidateFunction {
  let v = compiled.get(file)
  if (!v) {
    const text = readFileSync(packagePath(file), 'utf8')
    v = precompiled(file, text) ?? createAjv(SCHEMA_OPTIONS).compile(JSON.parse(text) as object)
    compiled.set(file, v)
  }
  return v
}

/** The build-time validator of `file`, if there is one for this exact schema text. */
export function precompiled(file: string, text: string): ValidateFunction | undefined {
  const path = precompiledPath(file)
  if (!existsSync(path)) return undefined
  const mod = require(path) as {default: ValidateFunction; schemaSha256?: string}
  return mod.schemaSha256 === schemaHash(text) ? mod.default : undefined
}
