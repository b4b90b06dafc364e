import {readFileSync} from 'node:fs'
import type {ValidateFunction} from 'ajv'
import {createAjv} from '../util/ajv.js'

/**
 * The official Palette spec subsets (schemas/palette-api/*.openapi.json, Swagger 2.0, merged:
 * API keys and users; resource limits and audits) turned into ajv validators: the emulator checks request bodies with it, and the
 * contract tests check every request and response against it.
 */

const SPEC_URLS = ['apikeys.openapi.json', 'limits-audits.openapi.json'].map((f) => new URL(`../../schemas/palette-api/${f}`, import.meta.url))
const SPEC_ID = 'palette-apis'

type Json = null | boolean | number | string | Json[] | {[k: string]: Json}

interface SwaggerOperation {
  operationId: string
  parameters?: Array<{in: string; name: string; schema?: Json; required?: boolean}>
  responses: Record<string, {schema?: Json}>
}

export interface SpecOperation {
  operationId: string
  method: string
  /** The spec's path template, e.g. /v1/apiKeys/{uid} */
  template: string
  /** Validator of the body parameter, when the operation has one. */
  body?: ValidateFunction
  /** Declared responses: status → validator, or null for a declared response without a body. */
  responses: Map<number, ValidateFunction | null>
}

export interface PaletteSpec {
  /** The operation serving this method and concrete path, or undefined if the spec has none. */
  operation(method: string, path: string): SpecOperation | undefined
  /** Validator of one definition, e.g. `v1Error`. */
  definition(name: string): ValidateFunction
}

interface SpecSubset {
  paths: Record<string, Record<string, SwaggerOperation | Json>>
  definitions: Record<string, Json>
}

/** The subsets are cut from one spec: a definition both carry must be the same text. */
function mergeSubsets(subsets: SpecSubset[]): SpecSubset {
  const out: SpecSubset = {paths: {}, definitions: {}}
  for (const s of subsets) {
    for (const [path, item] of Object.entries(s.paths)) {
      if (out.paths[path]) throw new Error(`Palette spec subsets both define ${path}`)
      out.paths[path] = item
    }
    for (const [name, def] of Object.entries(s.definitions)) {
      const known = out.definitions[name]
      if (known !== undefined && JSON.stringify(known) !== JSON.stringify(def)) throw new Error(`Palette spec subsets disagree on ${name}`)
      out.definitions[name] = def
    }
  }
  return out
}

let cached: PaletteSpec | undefined

export function paletteSpec(): PaletteSpec {
  cached ??= loadSpec()
  return cached
}

function loadSpec(): PaletteSpec {
  const raw = mergeSubsets(SPEC_URLS.map((url) => JSON.parse(readFileSync(url, 'utf8')) as SpecSubset))
  // Swagger 2.0 schemas often give `properties` without `type: object`: not our text to fix.
  const ajv = createAjv({strictTypes: false})
  ajv.addSchema({$id: SPEC_ID, definitions: toJsonSchema(raw.definitions) as Json})
  const compile = (schema: Json): ValidateFunction => ajv.compile(toJsonSchema(schema) as object)
  const definition = (name: string): ValidateFunction => {
    const v = ajv.getSchema(`${SPEC_ID}#/definitions/${name}`)
    if (!v) throw new Error(`Palette spec has no definition ${name}`)
    return v
  }
  const resolve = (schema: Json): ValidateFunction => {
    if (schema && typeof schema === 'object' && !Array.isArray(schema) && typeof schema.$ref === 'string') {
      return definition(schema.$ref.replace('#/definitions/', ''))
    }
    return compile(schema)
  }

  const operations: Array<SpecOperation & {pattern: RegExp; params: number}> = []
  for (const [template, item] of Object.entries(raw.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method === 'parameters') continue
      const o = op as SwaggerOperation
      const bodyParam = o.parameters?.find((p) => p.in === 'body')
      const responses = new Map<number, ValidateFunction | null>()
      for (const [status, r] of Object.entries(o.responses)) {
        responses.set(Number(status), r.schema === undefined ? null : resolve(r.schema))
      }
      const params = (template.match(/\{[^}]+\}/g) ?? []).length
      const pattern = new RegExp('^' + template.replace(/\{[^}]+\}/g, '[^/]+') + '$')
      operations.push({
        operationId: o.operationId,
        method: method.toUpperCase(),
        template,
        body: bodyParam?.schema === undefined ? undefined : resolve(bodyParam.schema),
        responses,
        pattern,
        params,
      })
    }
  }
  // Literal paths win over templates: /v1/users/info is not /v1/users/{uid}.
  operations.sort((a, b) => a.params - b.params)

  return {
    operation(method, path) {
      const clean = path.split('?')[0] ?? ''
      return operations.find((o) => o.method === method.toUpperCase() && o.pattern.test(clean))
    },
    definition,
  }
}

/**
 * Swagger 2.0 schema → JSON Schema draft-07: `x-nullable: true` admits null, other
 * vendor extensions are dropped, `$ref`s point into the added spec document.
 */
export function toJsonSchema(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(toJsonSchema)
  if (!schema || typeof schema !== 'object') return schema
  const out: {[k: string]: Json} = {}
  for (const [k, v] of Object.entries(schema)) {
    if (k.startsWith('x-')) continue
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/definitions/')) out[k] = `${SPEC_ID}${v}`
    else if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, toJsonSchema(s)]))
    } else if (k === 'definitions' && v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, toJsonSchema(s)]))
    } else out[k] = toJsonSchema(v)
  }
  if (schema['x-nullable'] === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null']
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null]
  }
  return out
}
