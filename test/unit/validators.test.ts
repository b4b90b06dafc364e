import {readdirSync, readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'
import {createAjv, precompiled, SCHEMA_OPTIONS} from '../../src/util/ajv.js'

// npm test builds first, so dist/validators/ holds the build-time validators (scripts/validators.js).
const schemas = readdirSync('schemas').filter((f) => f.endsWith('.schema.json'))
const read = (file: string) => readFileSync(file, 'utf8')

describe('build-time validators', () => {
  it.each(schemas)('%s is compiled at build time from the current schema text', (name) => {
    expect(precompiled(`schemas/${name}`, read(`schemas/${name}`))).toBeTypeOf('function')
  })

  it('one made from another schema text is not used (a schema edited since the build is compiled at run time)', () => {
    const file = 'schemas/desired-state.schema.json'
    expect(precompiled(file, read(file).replace('"title"', '"title" '))).toBeUndefined()
  })

  it('give the same verdicts and errors as ajv compiling the schema now, on every invalid-file fixture and the examples', () => {
    const file = 'schemas/desired-state.schema.json'
    const text = read(file)
    const built = precompiled(file, text)!
    const now = createAjv(SCHEMA_OPTIONS).compile(JSON.parse(text) as object)
    const docs = [...readdirSync('test/fixtures/invalid-desired').map((f) => `test/fixtures/invalid-desired/${f}`), 'examples/keys.yaml']
    let compared = 0
    let invalid = 0
    for (const path of docs) {
      let data: unknown
      try {
        data = parse(read(path), {logLevel: 'silent'})
      } catch {
        continue // not YAML: never reaches the schema
      }
      const verdict = built(data)
      expect(verdict, path).toBe(now(data))
      expect(built.errors ?? null, path).toEqual(now.errors ?? null)
      compared++
      if (!verdict) invalid++
    }
    expect(compared).toBeGreaterThan(30)
    expect(invalid).toBeGreaterThan(10)
  })
})
