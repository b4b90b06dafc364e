import {readFileSync} from 'node:fs'
import {Ajv, type Options, type ValidateFunction} from 'ajv'
import addFormats from 'ajv-formats'
import {packagePath} from './paths.js'

/** One configuration for every validator in the project: all errors, standard formats. */
export function createAjv(overrides: Options = {}): Ajv {
  const ajv = new Ajv({allErrors: true, strict: true, allowUnionTypes: true, ...overrides})
  addFormats.default(ajv)
  return ajv
}

const compiled = new Map<string, ValidateFunction>()

/**
 * The validator of a schema file shipped in `schemas/`, compiled on first use and then
 * kept. `verbose` keeps the parent schema in errors (for "allowed fields" hints).
 */
export function schemaValidator(file: string, setup: (ajv: Ajv) => void = () => {}): ValidateFunction {
  let v = compiled.get(file)
  if (!v) {
    const ajv = createAjv({verbose: true})
    setup(ajv)
    v = ajv.compile(JSON.parse(readFileSync(packagePath(file), 'utf8')) as object)
    compiled.set(file, v)
  }
  return v
}
