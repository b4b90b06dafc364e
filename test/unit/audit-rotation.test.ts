import {describe, expect, it} from 'vitest'
import {audit} from '../../src/audit/audit.js'
import {renderAuditText} from '../../src/audit/render.js'
import {diff} from '../../src/plan/diff.js'
import {DAY, desired, liveKey, liveState, NOW} from '../support/plan-fixtures.js'

/**
 * The nightly audit agrees with the file's rotation (issue 19.3): a key the next apply rotates
 * does not fail the night while its rotateBefore window has time left; a late rotation does.
 */
function nightly(yaml: string, expires: number, within = 30 * DAY, managed = true) {
  const d = desired(`users:\n  alice@example.com:\n    keys:\n      ci: ${yaml}\n`)
  const live = liveState([liveKey({user: 'alice', name: 'ci', expires, managed})])
  const plan = diff(d, live, {force: false, toolVersion: 'test'}, NOW)
  const report = audit(d, live, plan, NOW, within)
  return {report, lines: report.findings.map((f) => `${f.kind} ${f.address}`)}
}

describe('audit and rotateBefore', () => {
  it('a key expiring within the audit window but before its rotateBefore window: clean (an apply rotates it in time)', () => {
    const {report, lines} = nightly('{expiresIn: 90d, rotateBefore: 14d}', 20)
    expect(lines).toEqual([])
    expect(report.clean).toBe(true)
  })

  it('inside the window with more than half of it left: rotation-due, and still clean; the text says so', () => {
    const {report, lines} = nightly('{expiresIn: 90d, rotateBefore: 14d}', 10)
    expect(lines).toEqual(['rotation-due alice@example.com/ci'])
    expect(report.clean).toBe(true)
    expect(report.counts['rotation-due']).toBe(1)
    expect(renderAuditText(report, false)).toContain('but for 1 that the next apply rotates (rotation-due)')
  })

  it('past half of the window, not rotated yet: expiring (the rotation is late), not clean', () => {
    const {report, lines} = nightly('{expiresIn: 90d, rotateBefore: 14d}', 5)
    expect(lines).toEqual(['expiring alice@example.com/ci'])
    expect(report.findings[0]!.message).toContain('does a scheduled apply run?')
    expect(report.clean).toBe(false)
  })

  it('expired: fails, rotation or not', () => {
    expect(nightly('{expiresIn: 90d, rotateBefore: 14d}', -1).lines).toEqual(['expired alice@example.com/ci'])
    expect(nightly('{expiresIn: 90d, rotateBefore: 14d}', -1).report.clean).toBe(false)
  })

  it('without rotateBefore, a pinned expiresAt, or a hand-made key: expiring within the window fails as before', () => {
    expect(nightly('{expiresIn: 90d}', 20).lines).toEqual(['expiring alice@example.com/ci'])
    const pinned = new Date(NOW.getTime() + 20 * DAY).toISOString()
    expect(nightly(`{expiresAt: "${pinned}", rotateBefore: 14d}`, 20).lines).toEqual(['expiring alice@example.com/ci'])
    expect(nightly('{expiresIn: 90d, rotateBefore: 14d, adopt: true}', 20, 30 * DAY, false).lines).toContain('expiring alice@example.com/ci')
  })
})
