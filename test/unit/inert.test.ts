import {describe, expect, it} from 'vitest'
import {renderAuditMarkdown, renderAuditText} from '../../src/audit/render.js'
import {audit} from '../../src/audit/audit.js'
import {inertCode, inertMarkdown, inertText} from '../../src/render/inert.js'
import {MARKDOWN_PART_LIMIT, renderMarkdown} from '../../src/render/markdown.js'
import {renderText} from '../../src/render/text.js'
import {desired, liveKey, liveState, NOW, planOf} from '../support/plan-fixtures.js'

/** Names and descriptions any tenant user can give their own keys. */
const EVIL = [
  'erase\u001b[2K\u001b[1A\u001b[2KPlan: 0 to create',
  'rtl\u202eexe.cod',
  'bell\u0007\u0085c1\u009bX',
  'zero\u200bwidth\u2066iso\u2069',
  'x</details>\n\n## Approved by security\n![img](https://evil.example/i.png) [click](https://evil.example)<img src=x onerror=alert(1)>',
  '| broken | table |',
  '`code` **bold** _it_ ~strike~ # head',
]

const users = 'users:\n  alice@example.com:\n    keys:\n      ci: {}\n'

describe('untrusted text is shown inert', () => {
  it('inertText escapes C0, C1, ESC, DEL and BiDi/zero-width characters, and caps the length', () => {
    expect(inertText('a\u001b[2Kb\nc\u202ed\u007f\u0085')).toBe('a\\u{1b}[2Kb\\u{a}c\\u{202e}d\\u{7f}\\u{85}')
    expect(inertText('x'.repeat(400))).toBe(`${'x'.repeat(300)}…(100 more characters)`)
  })

  it('inertMarkdown neutralises Markdown and HTML; inertCode cannot close its span or cell', () => {
    const md = inertMarkdown(EVIL[4]!)
    expect(md).not.toMatch(/<|>|\n|\]\(|!\[/)
    expect(md).toContain('&lt;/details&gt;')
    expect(inertCode('a`b|c')).toBe("a'b\\|c")
  })

  it('the text plan shows live names, descriptions and reasons with no control or BiDi character', () => {
    const live = EVIL.map((name, i) => liveKey({user: 'alice', name, managed: false, description: name, uid: `evil${i}`.padEnd(24, '0')}))
    live.push(liveKey({user: 'alice', name: 'ci', description: EVIL[0]}))
    const text = renderText(planOf(users, live), {color: false})
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/)
    expect(text).toContain('erase\\u{1b}[2K')
    // The summary line is still there, on a line of its own.
    expect(text.split('\n').filter((l) => l.startsWith('Plan: '))).toHaveLength(1)
  })

  it('the Markdown plan and audit cannot be broken out of', () => {
    const live = EVIL.map((name, i) => liveKey({user: 'alice', name, managed: false, uid: `evil${i}`.padEnd(24, '0')}))
    const plan = planOf(users, live)
    const md = renderMarkdown(plan).join('\n')
    expect(md.match(/<\/details>/g)?.length).toBe((md.match(/<details/g) ?? []).length)
    expect(md).not.toMatch(/^#{1,6} Approved/m)
    expect(md).not.toMatch(/!\[img\]|\]\(https/)
    expect(md).not.toContain('<img')
    const report = audit(desired(users), liveState(live), plan, NOW, 14 * 86_400_000)
    // The unified diff is a fenced code block (fences in it neutralised): nothing in it takes effect.
    const auditMd = renderAuditMarkdown(report).replace(/```diff[\s\S]*?```/g, '')
    expect(auditMd).not.toMatch(/<img|\]\(https|^#{1,6} Approved/m)
    expect(renderAuditText(report, false)).not.toMatch(/\u001b|\u202e/)
  })

  it('a Markdown part stays under the limit however long the error list is', () => {
    // 400 declared keys, each with two hand-made twins nobody can tell apart: 400 blocked entries.
    const live = Array.from({length: 800}, (_, i) => liveKey({user: 'alice', name: `k${i >> 1}`, managed: false, uid: String(i).padStart(24, '0')}))
    const yaml = `policy: {adopt: true}\nusers:\n  alice@example.com:\n    keys:\n${Array.from({length: 400}, (_, i) => `      k${i}: {}\n`).join('')}`
    const plan = planOf(yaml, live)
    expect(plan.blocked).toHaveLength(400)
    const parts = renderMarkdown(plan)
    expect(parts.length).toBeGreaterThan(1)
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(MARKDOWN_PART_LIMIT)
  })

  it('the text renderers take 150,000 rows without a call-stack overflow', () => {
    const live = Array.from({length: 150_000}, (_, i) => liveKey({user: 'alice', name: `m${i}`, managed: false, uid: String(i).padStart(24, '0')}))
    // No real user holds that many (Palette caps them at 20 by default): the cap is lifted here.
    const plan = planOf(users, live, {keyLimit: 1_000_000})
    expect(plan.findings.length).toBe(150_000)
    expect(() => renderText(plan, {color: false})).not.toThrow()
  })
})
