import {readFileSync} from 'node:fs'
import type {ValidateFunction} from 'ajv'
import type {SpecOperation} from '../../src/contract/spec.js'
import {createAjv} from '../../src/util/ajv.js'

/**
 * An OpenAPI 3.0 document (the GitHub subset copied from @octokit/openapi, the GitLab contract
 * transcribed from its docs) as ajv validators: the delivery fakes check every request body they
 * get, and the contract tests every response they send, against it.
 */
/** The same shape as a Palette spec operation (src/contract/spec.ts): template, body validator, responses by status. */
export type Operation = SpecOperation

export interface OpenApi3 {
  operation(method: string, path: string): Operation | undefined
  /** A human line for a validator's errors. */
  errors(v: ValidateFunction): string
}

type Json = null | boolean | number | string | Json[] | {[k: string]: Json}

/** OpenAPI 3.0 schema → JSON Schema: `nullable` admits null; refs point into the added document. */
function toJsonSchema(schema: Json, id: string): Json {
  if (Array.isArray(schema)) return schema.map((s) => toJsonSchema(s, id))
  if (!schema || typeof schema !== 'object') return schema
  const out: {[k: string]: Json} = {}
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'example' || k === 'examples' || k === 'nullable' || k.startsWith('x-')) continue
    if (k === '$ref' && typeof v === 'string') out[k] = `${id}${v}`
    else if (k === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) out[k] = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, toJsonSchema(s, id)]))
    else out[k] = toJsonSchema(v, id)
  }
  if (schema.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null']
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null]
  }
  return out
}

const cache = new Map<string, OpenApi3>()

export function openApi3(file: string): OpenApi3 {
  const known = cache.get(file)
  if (known) return known
  const doc = JSON.parse(readFileSync(file, 'utf8')) as {paths: Record<string, Record<string, Json>>; components?: Json}
  const id = `spec-${cache.size}`
  const ajv = createAjv({strictTypes: false, strict: false})
  ajv.addSchema({$id: id, components: toJsonSchema(doc.components ?? {}, id)} as object)
  const ops: Array<Operation & {pattern: RegExp; params: number}> = []
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(item)) {
      if (method === 'parameters') continue
      const op = raw as {operationId: string; requestBody?: {content?: Record<string, {schema?: Json}>}; responses: Record<string, {content?: Record<string, {schema?: Json}>}>}
      const bodySchema = op.requestBody?.content?.['application/json']?.schema
      const responses = new Map<number, ValidateFunction | null>()
      for (const [status, r] of Object.entries(op.responses)) {
        const schema = r.content?.['application/json']?.schema
        responses.set(Number(status), schema === undefined ? null : ajv.compile(toJsonSchema(schema, id) as object))
      }
      const params = (template.match(/\{[^}]+\}/g) ?? []).length
      ops.push({
        operationId: op.operationId,
        method: method.toUpperCase(),
        template,
        ...(bodySchema === undefined ? {} : {body: ajv.compile(toJsonSchema(bodySchema, id) as object)}),
        responses,
        pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
        params,
      })
    }
  }
  // A literal segment wins over a parameter: .../secrets/public-key is not .../secrets/{secret_name}.
  ops.sort((a, b) => a.params - b.params || b.template.length - a.template.length)
  const spec: OpenApi3 = {
    operation(method, path) {
      const clean = path.split('?')[0] ?? ''
      return ops.find((o) => o.method === method.toUpperCase() && o.pattern.test(clean))
    },
    errors(v) {
      return (v.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''}`).join('; ')
    },
  }
  cache.set(file, spec)
  return spec
}
