import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {paletteSpec, toJsonSchema} from '../../src/contract/spec.js'

const raw = JSON.parse(readFileSync('schemas/palette-api/apikeys.openapi.json', 'utf8')) as {
  swagger: string
  'x-subset-provenance': {base: {repo: string; commit: string}}
  definitions: Record<string, unknown>
}

describe('the Palette spec in the project', () => {
  it('is the official Swagger 2.0 subset and keeps its provenance', () => {
    expect(raw.swagger).toBe('2.0')
    expect(raw['x-subset-provenance'].base).toMatchObject({repo: 'spectrocloud/palette-sdk-go', commit: 'dbd043197c68385c120c142162516b4e3c666707'})
  })

  it('compiles every definition with ajv', () => {
    for (const name of Object.keys(raw.definitions)) expect(typeof paletteSpec().definition(name), name).toBe('function')
  })

  it('turns x-nullable into a JSON Schema null and resolves $refs', () => {
    const filter = paletteSpec().definition('v1FilterString')
    expect(filter({eq: null, contains: 'a', ignoreCase: false})).toBe(true)
    expect(filter({eq: 3})).toBe(false)
    expect(toJsonSchema({type: 'string', enum: ['a'], 'x-nullable': true})).toEqual({type: ['string', 'null'], enum: ['a', null]})
    const key = paletteSpec().definition('v1ApiKey')
    expect(key({metadata: {annotations: {a: 'b'}}, status: {isActive: true}})).toBe(true)
    expect(key({metadata: {annotations: {a: 1}}})).toBe(false)
    expect(key({spec: {expiry: 'not a date'}})).toBe(false)
  })

  it('finds operations by concrete path, literal paths before templates', () => {
    expect(paletteSpec().operation('GET', '/v1/users/info')?.operationId).toBe('v1UsersInfoGet')
    expect(paletteSpec().operation('GET', '/v1/users/0123')?.operationId).toBe('v1UsersUidGet')
    expect(paletteSpec().operation('PUT', '/v1/apiKeys/abc/state')?.operationId).toBe('v1ApiKeysUidState')
    expect(paletteSpec().operation('PATCH', '/v1/apiKeys/abc')?.operationId).toBe('v1ApiKeysUidActiveState')
    expect(paletteSpec().operation('GET', '/v1/users?limit=2')?.operationId).toBe('v1UsersList')
    expect(paletteSpec().operation('POST', '/v1/users/info')).toBeUndefined()
  })
})
