import {Ajv, type Options} from 'ajv'
import addFormats from 'ajv-formats'

/** One configuration for every validator in the project: all errors, standard formats. */
export function createAjv(overrides: Options = {}): Ajv {
  const ajv = new Ajv({allErrors: true, strict: true, allowUnionTypes: true, ...overrides})
  addFormats.default(ajv)
  return ajv
}
