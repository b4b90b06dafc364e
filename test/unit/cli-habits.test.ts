import {describe, expect, it} from 'vitest'
import {suggestion} from '../../src/cli/suggest.js'
import {annotation, diagnosticAnnotations} from '../../src/render/github.js'
import {useColor} from '../../src/cli/connect.js'
import {Progress} from '../../src/render/progress.js'
import {diff} from '../../src/plan/diff.js'
import {desired, liveKey, liveState, NOW} from '../support/plan-fixtures.js'

/** The CLI habits of issue 19.8, through their pure parts (the CLI cases are in test/e2e/cli-habits.test.ts). */
describe('suggestion (did you mean)', () => {
  const commands = ['apply', 'audit', 'demo', 'emulator', 'export', 'keygen', 'plan', 'show', 'unseal', 'validate', 'help', 'autocomplete']

  it('names the nearest command for a typo, ignoring case', () => {
    expect(suggestion('aply', commands)).toBe('apply')
    expect(suggestion('PLNA', commands)).toBe('plan')
    expect(suggestion('valdiate', commands)).toBe('validate')
    expect(suggestion('exprot', commands)).toBe('export')
  })

  it('suggests nothing for an exact word, a far one or a pasted secret', () => {
    expect(suggestion('apply', commands)).toBeUndefined()
    expect(suggestion('deploy', commands)).toBeUndefined()
    expect(suggestion('sk-live-9f8e7d6c5b4a', commands)).toBeUndefined()
    expect(suggestion('', commands)).toBeUndefined()
    expect(suggestion('plan', [])).toBeUndefined()
  })

  it('allows a third of the typed length in edits, at least one and at most three', () => {
    expect(suggestion('shw', ['show'])).toBe('show') // 1 edit for 3 letters
    expect(suggestion('sx', ['show'])).toBeUndefined() // 3 edits for 2 letters
    expect(suggestion('parallelsm', ['parallelism'])).toBe('parallelism')
    expect(suggestion('prlsm', ['parallelism'])).toBeUndefined() // 6 edits
  })
})

describe('GitHub workflow annotations', () => {
  it('writes file, line, col and title, and escapes what would end or start a command', () => {
    expect(annotation('error', 'bad\nvalue 100%', {file: 'keys.yaml', line: 3, col: 7, title: 'palette-keys: schema'}))
      .toBe('::error file=keys.yaml,line=3,col=7,title=palette-keys%3A schema::bad%0Avalue 100%25')
    expect(annotation('warning', 'plain')).toBe('::warning::plain')
    expect(annotation('error', 'x', {file: 'a,b:c.yaml', line: 0})).toBe('::error file=a%2Cb%3Ac.yaml::x')
  })

  it('a file that quotes a workflow command cannot inject one: no line of the output starts with ::', () => {
    const [line] = diagnosticAnnotations([{code: 'schema', message: 'unknown field "x\r\n::add-mask::y"', file: 'keys.yaml', line: 2, col: 1, hint: 'remove it'}])
    expect(line!.split(/\r?\n/)).toHaveLength(1)
    expect(line).toMatch(/^::error file=keys\.yaml,line=2,col=1,title=palette-keys%3A schema::unknown field/)
    expect(line).toContain('Hint: remove it')
  })
})

describe('useColor', () => {
  const tty = {isTTY: true}
  const pipe = {isTTY: false}
  it('colours a terminal, not a pipe, and never with NO_COLOR or TERM=dumb', () => {
    expect(useColor(tty, {})).toBe(true)
    expect(useColor(pipe, {})).toBe(false)
    expect(useColor(tty, {NO_COLOR: '1'})).toBe(false)
    expect(useColor(tty, {TERM: 'dumb'})).toBe(false)
  })
  it('FORCE_COLOR decides first: on in a pipe, off on a terminal with 0 or false', () => {
    expect(useColor(pipe, {FORCE_COLOR: '1'})).toBe(true)
    expect(useColor(pipe, {FORCE_COLOR: '3', NO_COLOR: '1'})).toBe(true)
    expect(useColor(tty, {FORCE_COLOR: '0'})).toBe(false)
    expect(useColor(tty, {FORCE_COLOR: 'false'})).toBe(false)
    expect(useColor(pipe, {FORCE_COLOR: ''})).toBe(false)
  })
})

describe('Progress', () => {
  const plan = diff(
    desired('users:\n  alice@example.com:\n    keys:\n      a: {}\n      b: {}\n      c: {}\n      d: {}\n'),
    liveState([liveKey({user: 'alice', name: 'old'})]),
    {force: true, toolVersion: 'test'},
    NOW,
  )

  it('counts [n/N] over the changes, with elapsed time and an estimate from the pace', () => {
    let t = 0
    const p = new Progress(plan.actions, {ratePerSecond: 0, now: () => t})
    const kinds = plan.actions.filter((a) => a.kind !== 'no-op')
    expect(kinds).toHaveLength(5)
    t = 10_000
    expect(p.step(kinds[0]!, 'done')).toBe(`[1/5] ${kinds[0]!.kind} ${kinds[0]!.address} done (10s elapsed, about 40s left)`)
    t = 20_000
    expect(p.step(kinds[1]!, 'failed')).toMatch(/^\[2\/5\] .* failed \(20s elapsed, about 30s left\)$/)
    p.step(kinds[2]!, 'done')
    p.step(kinds[3]!, 'done')
    t = 300_000
    expect(p.step(kinds[4]!, 'done')).toMatch(/^\[5\/5\] .* done \(5 min elapsed\)$/)
  })

  it('never estimates below what the rate limit lets through', () => {
    let t = 0
    const p = new Progress(plan.actions, {ratePerSecond: 0.1, now: () => t})
    const kinds = plan.actions.filter((a) => a.kind !== 'no-op')
    t = 1000
    // 4 requests left at 0.1 per second is 40 s, though the pace says 4 s.
    expect(p.step(kinds[0]!, 'done')).toContain('about 40s left')
  })
})
