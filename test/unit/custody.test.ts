import {describe, expect, it} from 'vitest'
import {CUSTODY, RETIRED_AT} from '../../src/plan/ownership.js'
import {DAY, liveKey, NOW, planOf} from '../support/plan-fixtures.js'

/**
 * Custody (issue 17.1) as the pure diff sees it: the seal folder's file names are an input, and
 * they are data. A name counts only through the uid it holds, in its owner's folder.
 */
/** Palette-shaped uids (the fixtures' default ones are not, and a sealed file's name counts only through a Palette uid). */
let serial = 0
const hexUid = () => `cafe${(++serial).toString(16).padStart(20, '0')}`
const created = (user: 'alice' | 'bob', name: string, extra: Partial<Parameters<typeof liveKey>[0]> = {}) => liveKey({user, name, age: 1, uid: hexUid(), annotations: {[CUSTODY]: 'folder'}, ...extra})
const file = (keys: string) => `seal: {recipients: [age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c], custodyGrace: 0h}\nusers:\n${keys}`
const ALICE_CI = '  alice@example.com:\n    keys:\n      ci: {}\n'

describe('custody: which file keeps which key', () => {
  it('a file for the key in its owner\'s folder keeps it; the same uid planted in another user\'s folder does not', () => {
    const k = created('alice', 'ci')
    expect(planOf(file(ALICE_CI), [k], {sealFiles: [`alice@example.com/ci--${k.uid}.age`]}).changes).toBe(false)
    const planted = planOf(file(ALICE_CI), [k], {sealFiles: [`bob@example.com/ci--${k.uid}.age`]})
    expect(planted.actions.map((a) => [a.kind, a.kind === 'rotate' ? a.cause : undefined])).toEqual([['rotate', 'value-lost']])
    // The planted file is not stale either: its key exists.
    expect(planted.seal.stale).toEqual([])
  })

  it('names that hold no uid, or a uid of the wrong shape, are not palette-keys\' files: never stale, never custody', () => {
    const k = created('alice', 'ci')
    const plan = planOf(file(ALICE_CI), [k], {sealFiles: ['alice@example.com/notes.age', `alice@example.com/ci--${k.uid.toUpperCase()}.age`, 'alice@example.com/ci--../../x.age']})
    expect(plan.seal.stale).toEqual([])
    expect(plan.actions.map((a) => a.kind)).toEqual(['rotate'])
    expect(plan.seal.files.count).toBe(3)
  })

  it('only keys palette-keys created under folder custody can be lost: not an adopted key, not a revoked one, not one declared inactive, not under custody: mark', () => {
    const adopted = liveKey({user: 'alice', name: 'ci', age: 1})
    expect(planOf(file(ALICE_CI), [adopted]).actions.map((a) => a.kind)).toEqual(['no-op'])
    const revoked = created('alice', 'ci', {active: false})
    expect(planOf(file('  alice@example.com:\n    keys:\n      ci: {active: false}\n'), [revoked]).actions.map((a) => a.kind)).toEqual(['no-op'])
    const k = created('alice', 'ci')
    const mark = `seal: {recipients: [age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c], custody: mark}\nusers:\n${ALICE_CI}`
    expect(planOf(mark, [k]).actions.map((a) => a.kind)).toEqual(['no-op'])
  })

  it('within the grace a missing file is a finding; past it, a replacement that the brakes count', () => {
    const young = liveKey({user: 'alice', name: 'ci', age: 0, annotations: {[CUSTODY]: 'folder'}})
    const grace = `seal: {recipients: [age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c]}\nusers:\n${ALICE_CI}`
    const plan = planOf(grace, [young])
    expect(plan.changes).toBe(false)
    expect(plan.findings.map((f) => f.kind)).toEqual(['value-unconfirmed'])
    // Ten lost values of ten managed keys: the ratio brake holds.
    const keys = Array.from({length: 10}, (_, i) => created('alice', `k${i}`))
    const many = planOf(file(`  alice@example.com:\n    keys:\n${keys.map((k) => `      ${k.name}: {}\n`).join('')}`), keys)
    expect(many.brakes.items.map((b) => b.code)).toContain('max-change-ratio')
  })
})

describe('custody: stale sealed files', () => {
  const retired = () => liveKey({user: 'alice', name: 'ci-retired-1', active: false, uid: hexUid(), annotations: {[RETIRED_AT]: new Date(NOW.getTime() - DAY).toISOString()}})

  it('a file whose key is gone, or retired, is stale; a file of a live key is not', () => {
    const k = created('alice', 'ci')
    const old = retired()
    const plan = planOf(file(ALICE_CI), [k, old], {sealFiles: [`alice@example.com/ci--${k.uid}.age`, `alice@example.com/ci--${old.uid}.age`, 'bob@example.com/deploy--0123456789abcdef01234567.age']})
    expect(plan.seal.stale.map((s) => [s.file, s.reason.replace(/ [0-9a-f]{24} /, ' UID ')])).toEqual([
      [`alice@example.com/ci--${old.uid}.age`, 'its key UID was retired by a rotation (revoked): the value no longer authenticates'],
      ['bob@example.com/deploy--0123456789abcdef01234567.age', 'its key UID is not in Palette (deleted by hand?): the value no longer authenticates'],
    ])
    expect(plan.changes).toBe(true)
  })

  it('absence is evidence only where the caller sees every key of the owner and the key list is whole', () => {
    const gone = (user: string) => `${user}/deploy--0123456789abcdef01234567.age`
    const bobs = planOf(file(ALICE_CI), [], {caller: 'alice', callerIsAdmin: false, sealFiles: [gone('bob@example.com'), 'alice@example.com/ci--0123456789abcdef01234568.age']})
    expect(bobs.seal.stale.map((s) => s.file)).toEqual(['alice@example.com/ci--0123456789abcdef01234568.age'])
    const cut = planOf(file(ALICE_CI), [], {keyListCut: true, sealFiles: [gone('bob@example.com')]})
    expect(cut.seal.stale).toEqual([])
  })
})
