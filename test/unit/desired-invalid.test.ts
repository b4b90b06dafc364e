import {readdirSync, readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {parseDesiredState} from '../../src/config/desired-state.js'
import {PaletteKeysError} from '../../src/util/errors.js'

const DIR = 'test/fixtures/invalid-desired'
const NOW = new Date('2026-06-01T00:00:00Z')

/** Every invalid fixture with the diagnostics it must produce: `code@line:col`, in order. */
const EXPECTED: Record<string, string[]> = {
  '01-empty-file.yaml': ['empty-file@1:1'],
  '02-not-a-mapping.yaml': ['not-a-mapping@1:1'],
  '03-scalar-root.yaml': ['not-a-mapping@1:1'],
  '04-missing-version.yaml': ['missing-field@1:1'],
  '05-unsupported-version.yaml': ['unsupported-version@1:10'],
  '06-unknown-top-field.yaml': ['unknown-field@3:1'],
  '07-unknown-key-field.yaml': ['unknown-field@6:9'],
  '08-duplicate-yaml-key.yaml': ['yaml.duplicate-key@6:7'],
  '09-bad-duration-unit.yaml': ['invalid-duration@3:14'],
  '10-bad-duration-key.yaml': ['invalid-duration@6:20'],
  '11-zero-duration.yaml': ['invalid-duration@6:23'],
  '12-both-expiries.yaml': ['conflicting-expiry@7:9'],
  '13-expiry-in-past.yaml': ['expiry-in-past@6:20'],
  '14-bad-date.yaml': ['invalid-date-time@6:20'],
  '15-invalid-email.yaml': ['invalid-email@3:3'],
  '16-invalid-moved-from.yaml': ['invalid-email@6:20'],
  '17-bad-recipient-checksum.yaml': ['invalid-recipient@4:7'],
  '18-not-age-recipient.yaml': ['invalid-recipient@4:7'],
  '19-rename-self.yaml': ['rename-collision@6:22'],
  '20-rename-collides-declared.yaml': ['rename-collision@7:22'],
  '21-rename-twice.yaml': ['rename-collision@8:22'],
  '22-move-to-self.yaml': ['invalid-move@6:20'],
  '23-move-still-declared.yaml': ['move-collision@9:20'],
  '24-duplicate-user-case.yaml': ['duplicate-user@5:3'],
  '25-wrong-type-active.yaml': ['wrong-type@6:17'],
  '26-ratio-out-of-range.yaml': ['out-of-range@3:19'],
  '27-missing-keys.yaml': ['missing-field@4:5'],
  '28-keys-not-mapping.yaml': ['wrong-type@4:11'],
  '29-rotation-window-too-wide.yaml': ['rotation-window-too-wide@7:23'],
  '30-default-window-too-wide.yaml': ['rotation-window-too-wide@4:17'],
  '31-syntax-error.yaml': ['yaml.bad-indent@5:1'],
  '32-tab-indent.yaml': ['yaml.tab-as-indent@3:1'],
  '33-alias-bomb.yaml': ['yaml.alias-limit@1:1'],
  '34-bad-key-name.yaml': ['invalid-value@5:7'],
  '35-many-problems-at-once.yaml': ['invalid-recipient@3:16', 'invalid-duration@5:14', 'invalid-email@7:3', 'expiry-in-past@12:20', 'unknown-field@13:9'],
  '36-description-not-string.yaml': ['wrong-type@6:22'],
  '37-seal-dir-empty.yaml': ['invalid-value@3:8'],
  '38-duplicate-recipient.yaml': ['duplicate-item@4:5'],
  '39-set-tag.yaml': ['yaml.unsupported-tag@5:17'],
  '40-omap-tag.yaml': ['yaml.unsupported-tag@5:7'],
  '41-other-tags.yaml': ['yaml.unsupported-tag@5:34', 'yaml.tag-resolve-failed@6:26'],
}

function diagnose(file: string): string[] {
  try {
    parseDesiredState(readFileSync(`${DIR}/${file}`, 'utf8'), file, NOW)
  } catch (error) {
    expect(error).toBeInstanceOf(PaletteKeysError)
    const e = error as PaletteKeysError
    expect(e.exitCode).toBe(65)
    for (const d of e.diagnostics) {
      expect(d.file).toBe(file)
      expect(d.message.length).toBeGreaterThan(0)
    }
    return e.diagnostics.map((d) => `${d.code}@${d.line}:${d.col}`)
  }
  return ['(valid)']
}

describe('invalid desired-state corpus', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort()

  it('has at least 30 fixtures, each with expectations', () => {
    expect(files.length).toBeGreaterThanOrEqual(30)
    expect(files).toEqual(Object.keys(EXPECTED).sort())
  })

  it.each(files)('%s', (file) => {
    expect(diagnose(file)).toEqual(EXPECTED[file])
  })

  it('refuses an oversized file without reading it as YAML', () => {
    const big = `version: 1\nusers: {}\n${'# padding\n'.repeat(1_700_000)}`
    expect(() => parseDesiredState(big, 'big.yaml', NOW)).toThrow(expect.objectContaining({diagnostics: [expect.objectContaining({code: 'yaml.too-large'})]}))
  })

  it('examples/keys.yaml is valid', () => {
    const d = parseDesiredState(readFileSync('examples/keys.yaml', 'utf8'), 'examples/keys.yaml', NOW)
    expect(d.users.map((u) => u.email)).toEqual(['admin@example.com', 'alice@example.com', 'bob@example.com'])
    expect(d.seal.recipients).toHaveLength(1)
  })

  it('examples/keys.yaml starts with a yaml-language-server schema modeline and uses every field of the schema', () => {
    const text = readFileSync('examples/keys.yaml', 'utf8')
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/desired-state.schema.json')
    const schema = JSON.parse(readFileSync('schemas/desired-state.schema.json', 'utf8'))
    const fields = [
      ...Object.keys(schema.properties),
      ...Object.keys(schema.properties.seal.properties),
      ...Object.keys(schema.properties.defaults.properties),
      ...Object.keys(schema.properties.policy.properties),
      ...Object.keys(schema.definitions.user.properties),
      ...Object.keys(schema.definitions.key.properties),
    ]
    for (const f of fields) expect(text, f).toMatch(new RegExp(`^\\s*${f}:`, 'm'))
  })

  it('every schema field has a description', () => {
    const schema = JSON.parse(readFileSync('schemas/desired-state.schema.json', 'utf8'))
    const walk = (node: any, path: string): void => {
      for (const [name, prop] of Object.entries<any>(node.properties ?? {})) {
        expect(prop.description ?? (prop.$ref ? 'ref' : undefined), `${path}.${name}`).toBeDefined()
        walk(prop, `${path}.${name}`)
      }
    }
    walk(schema, '')
    for (const [name, def] of Object.entries<any>(schema.definitions)) walk(def, name)
  })
})
