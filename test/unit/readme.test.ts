import {existsSync, readFileSync} from 'node:fs'
import {join, relative, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {ROOT} from '../support/cli.js'

/**
 * The README stands on its own (issue 19.7): every link inside it finds its heading, every
 * relative link a file of this repository (a clone has nothing outside it), and its test
 * figures are the generated block, not typed.
 */
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
// GitHub's heading anchors: lower case, punctuation dropped (but - and _), spaces to hyphens, repeats numbered.
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  let fenced = false
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced
    const m = fenced ? null : /^#{1,6} (.+)$/.exec(line)
    if (!m) continue
    const base = m[1]!.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}
const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)

describe('README', () => {
  it('every in-page link finds its heading', () => {
    const known = anchors(readme)
    const inPage = links.filter((l) => l.startsWith('#'))
    expect(inPage.length).toBeGreaterThan(20)
    expect(inPage.filter((l) => !known.has(l.slice(1)))).toEqual([])
  })

  it('every relative link is a file of this repository', () => {
    const local = links.filter((l) => !/^(#|https?:|mailto:)/.test(l))
    expect(local.length).toBeGreaterThan(2)
    for (const l of local) {
      const target = resolve(ROOT, l.split('#')[0]!)
      expect(relative(ROOT, target).startsWith('..'), `${l} leaves the repository`).toBe(false)
      expect(existsSync(target), `${l} exists`).toBe(true)
    }
    expect(readme).not.toMatch(/\.\.\/shared/)
  })

  it('starts with a quickstart and a team guide, and its figures come from npm run figures', () => {
    const headings = readme.split('\n').filter((l) => /^## /.test(l))
    expect(headings.slice(0, 3)).toEqual(['## Quickstart', '## Two commands', '## Team guide'])
    for (const recipe of ['Adopt a tenant.', 'Review a change.', 'Rotate.', 'A person leaves.', 'A recipient changes.', 'A key leaks.']) expect(readme).toContain(`**${recipe}**`)
    expect(readme.indexOf('<!-- figures:begin -->')).toBeLessThan(readme.indexOf('<!-- figures:end -->'))
  })
})
