import {describe, expect, it} from 'vitest'
import {diff} from '../../src/plan/diff.js'
import {RETIRED_AT} from '../../src/plan/ownership.js'
import {DAY, desired, liveKey, liveState, NOW} from '../support/plan-fixtures.js'

/** --rotations-only (issue 19.3): what a scheduled apply nobody reviews may do. */
const iso = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString()

function plan(yaml: string, keys: ReturnType<typeof liveKey>[], rotationsOnly = true) {
  return diff(desired(`users:\n  alice@example.com:\n    keys:\n${yaml}`), liveState(keys), {force: true, toolVersion: 'test', rotationsOnly}, NOW)
}

describe('--rotations-only', () => {
  it('lets a due rotation and the clean-up of retired keys through (and says so in the plan)', () => {
    const p = plan('      ci: {expiresIn: 30d, rotateBefore: 7d}\n', [liveKey({user: 'alice', name: 'ci', expires: 3}), liveKey({user: 'alice', name: 'ci', active: false, annotations: {[RETIRED_AT]: iso(-8)}})])
    expect(p.actions.map((a) => a.kind).sort()).toEqual(['delete', 'rotate'])
    expect(p.brakes.items).toEqual([])
    expect(p.brakes.refused).toBe(false)
    expect(p.policy.rotationsOnly).toBe(true)
  })

  it('refuses, unforceably, a key revoked by hand that the file declares active (a reactivation), naming it', () => {
    const p = plan('      ci: {expiresIn: 30d, rotateBefore: 7d}\n      incident: {}\n', [liveKey({user: 'alice', name: 'ci', expires: 3}), liveKey({user: 'alice', name: 'incident', active: false})])
    expect(p.brakes.refused).toBe(true)
    const b = p.brakes.items.find((i) => i.code === 'rotations-only')!
    expect(b.forceable).toBe(false)
    expect(b.message).toContain('1 change of this plan needs review (reactivate alice@example.com/incident)')
  })

  it('refuses creates, edits, deletes of undeclared keys; without the flag the same plan passes', () => {
    const keys = [liveKey({user: 'alice', name: 'old'}), liveKey({user: 'alice', name: 'ci', description: 'was'})]
    const yaml = '      ci: {description: now}\n      new: {}\n'
    const p = plan(yaml, keys)
    expect(p.brakes.items.map((i) => i.code)).toEqual(['rotations-only'])
    expect(p.brakes.items[0]!.message).toContain('3 changes of this plan need review (update alice@example.com/ci, create alice@example.com/new, delete alice@example.com/old)')
    expect(plan(yaml, keys, false).brakes.refused).toBe(false)
    expect(plan(yaml, keys, false).policy.rotationsOnly).toBeUndefined()
  })

  it('a plan with nothing to do passes', () => {
    expect(plan('      ci: {}\n', [liveKey({user: 'alice', name: 'ci'})]).brakes.refused).toBe(false)
  })
})
