import {describe, expect, it} from 'vitest'
import {planValidator} from '../../src/plan/plan-file.js'
import {planDocument} from '../../src/plan/document.js'
import {renderJson} from '../../src/render/json.js'
import {MARKDOWN_MARKER, MARKDOWN_PART_LIMIT, renderMarkdown} from '../../src/render/markdown.js'
import {renderText} from '../../src/render/text.js'
import {liveKey, planOf} from '../support/plan-fixtures.js'

const mixed = () =>
  planOf(
    'users:\n  alice@example.com:\n    keys:\n      "new|pipe": {description: "x"}\n      long:\n        description: "' +
      'a much longer description that is certainly over forty characters, edited' +
      '"\n      off: {active: false}\n      rot: {rotateBefore: 7d}\n  bob@example.com:\n    keys:\n      mv: {movedFrom: carol@example.com}\n',
    [
      liveKey({user: 'alice', name: 'long', description: 'a much longer description that is certainly over forty characters'}),
      liveKey({user: 'alice', name: 'off'}),
      liveKey({user: 'alice', name: 'rot', expires: 3}),
      liveKey({user: 'alice', name: 'manual', managed: false}),
      liveKey({user: 'alice', name: 'gone'}),
      liveKey({user: 'carol', name: 'mv'}),
    ],
  )

describe('JSON plan', () => {
  it('validates against schemas/plan.schema.json for every action kind', () => {
    const doc = planDocument(mixed())
    expect(new Set(doc.actions.map((a) => a.kind))).toEqual(new Set(['create', 'update', 'revoke', 'rotate', 'delete', 'replace']))
    const validate = planValidator()
    expect(validate(JSON.parse(renderJson(mixed()))), JSON.stringify(validate.errors)).toBe(true)
  })

  it('maps actions to Terraform resource_changes actions', () => {
    const doc = planDocument(mixed())
    const byKind = Object.fromEntries(doc.actions.map((a, i) => [a.kind, doc.resource_changes[i]!.change.actions]))
    expect(byKind).toEqual({create: ['create'], update: ['update'], revoke: ['update'], rotate: ['create', 'delete'], delete: ['delete'], replace: ['create', 'delete']})
  })

  it('the schema rejects what is not a plan', () => {
    const validate = planValidator()
    const doc = JSON.parse(renderJson(mixed()))
    expect(validate({...doc, formatVersion: 2})).toBe(false)
    expect(validate({...doc, actions: [{kind: 'create', address: 'x', reason: 'y'}]})).toBe(false)
    expect(validate({...doc, secret: 'x'})).toBe(false)
  })
})

describe('text plan', () => {
  it('uses Terraform-like signs, a word diff for long values, and a summary line', () => {
    const text = renderText(mixed(), {color: false})
    expect(text).toMatch(/^ {2}\+ {3}create {6}alice@example\.com\/new\|pipe/m)
    expect(text).toMatch(/^ {2}~ {3}update {6}alice@example\.com\/long/m)
    expect(text).toMatch(/^ {2}- {3}revoke {6}alice@example\.com\/off/m)
    expect(text).toMatch(/^ {2}\+\/- rotate {6}alice@example\.com\/rot/m)
    expect(text).toMatch(/^ {2}\+\/- replace {5}bob@example\.com\/mv/m)
    expect(text).toMatch(/^ {2}! {3}unmanaged {3}alice@example\.com\/manual/m)
    expect(text).toContain('characters{+, edited+}')
    expect(text).toContain('Plan: 1 to create, 1 to update, 1 to revoke, 1 to delete, 1 to rotate, 1 to replace.')
    expect(text).toContain('3 new key values will be sealed to 1 recipient in sealed/.')
    expect(text).not.toMatch(/\u001B\[/)
  })

  it('colours only when asked', () => {
    expect(renderText(mixed(), {color: true})).toMatch(/\u001B\[/)
    expect(renderText(mixed(), {color: false})).not.toMatch(/\u001B\[/)
  })
})

describe('Markdown plan', () => {
  it('is one part with the marker for a small plan, escaping table cells', () => {
    const parts = renderMarkdown(mixed())
    expect(parts).toHaveLength(1)
    expect(parts[0]!.startsWith(`${MARKDOWN_MARKER}\n`)).toBe(true)
    expect(parts[0]).toContain('alice@example.com/new\\|pipe')
  })

  it('splits a plan of 2,000 changes into parts under 65,000 characters, losing no row', () => {
    const yaml = `users:\n  alice@example.com:\n    keys:\n${Array.from({length: 2000}, (_, i) => `      key-with-a-fairly-long-name-${String(i).padStart(4, '0')}: {description: "${'d'.repeat(30)}"}\n`).join('')}`
    const plan = planOf(yaml, [], {keyLimit: 10_000})
    expect(plan.summary.create).toBe(2000)
    const parts = renderMarkdown(plan)
    expect(parts.length).toBeGreaterThan(1)
    for (const [i, p] of parts.entries()) {
      expect(p.length).toBeLessThan(MARKDOWN_PART_LIMIT)
      expect(p.startsWith(`${MARKDOWN_MARKER}\n_Part ${i + 1} of ${parts.length}._`)).toBe(true)
    }
    const rows = parts.join('\n').match(/^\| `\+` \| create \|/gm)
    expect(rows).toHaveLength(2000)
  })
})
