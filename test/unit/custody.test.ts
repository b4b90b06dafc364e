import {describe, expect, it} from 'vitest'
import type {Plan} from '../../src/plan/model.js'
import {CUSTODY, NAME, REPLACES, RETIRED_AT, RETIRING, SUCCEEDS} from '../../src/plan/ownership.js'
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

describe('custody: a new key without its sealed file never costs the old key (issue 17.2)', () => {
  const grace = (keys: string) => `seal: {recipients: [age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c]}\nusers:\n${keys}`
  const ROTATING = '  alice@example.com:\n    keys:\n      ci: {expiresIn: 90d, rotateBefore: 14d}\n'
  /** A predecessor a rotation renamed aside (its one write), still active, and the successor it made under the declared name. */
  const rotation = (successorAgeDays: number) => {
    const pred = liveKey({user: 'alice', name: 'ci-retired-1', uid: hexUid(), expires: 5, annotations: {[CUSTODY]: 'folder', [NAME]: 'ci', [RETIRING]: NOW.toISOString()}})
    const next = liveKey({user: 'alice', name: 'ci', uid: hexUid(), age: successorAgeDays, expires: 90, annotations: {[CUSTODY]: 'folder', [SUCCEEDS]: pred.uid}})
    return {pred, next, files: [`alice@example.com/ci--${pred.uid}.age`]}
  }

  it('a successor killed before its seal (or whose commit-back is in flight): within the grace both are left as they are, and a finding names it', () => {
    const {pred, next, files} = rotation(0)
    const plan = planOf(grace(ROTATING), [pred, next], {sealFiles: files})
    expect(plan.actions.map((a) => [a.kind, touchedUid(a)])).toEqual([['no-op', pred.uid]])
    expect(plan.findings.map((f) => [f.kind, f.uid])).toEqual([['value-unconfirmed', next.uid]])
    expect(plan.findings[0]!.message).toContain(`made to replace key ${pred.uid}`)
  })

  it('past the grace the successor is deleted (nobody has its value) and the rotation made again from the predecessor, which still works', () => {
    const {pred, next, files} = rotation(1)
    const plan = planOf(grace(ROTATING), [pred, next], {sealFiles: files})
    expect(plan.actions.map((a) => [a.kind, touchedUid(a)])).toEqual([['delete', next.uid], ['rotate', pred.uid]])
    expect(plan.actions[0]!.reason).toMatch(/no sealed file for it is in sealed\/ after seal.custodyGrace 1h: nobody has its value/)
  })

  it('a kept successor (its file is there) retires its predecessor: revoked, kept for deleteRetiredAfter, its file stale', () => {
    const {pred, next, files} = rotation(0)
    const plan = planOf(grace(ROTATING), [pred, next], {sealFiles: [...files, `alice@example.com/ci--${next.uid}.age`]})
    expect(plan.actions.map((a) => [a.kind, touchedUid(a)])).toEqual([['no-op', next.uid], ['revoke', pred.uid]])
    expect(plan.findings.map((f) => [f.kind, f.uid])).toEqual([['retired', pred.uid]])
    expect(plan.seal.stale.map((s) => s.uid)).toEqual([pred.uid])
    // Revoked, it is retired by its own marks, whatever the folder says.
    const revoked = {...pred, isActive: false}
    expect(planOf(grace(ROTATING), [revoked, next], {sealFiles: [`alice@example.com/ci--${next.uid}.age`]}).actions.map((a) => a.kind)).toEqual(['no-op'])
  })

  it('a file for the successor planted in another user\'s folder does not make it kept: the predecessor is not retired', () => {
    const {pred, next, files} = rotation(0)
    const plan = planOf(grace(ROTATING), [pred, next], {sealFiles: [...files, `bob@example.com/ci--${next.uid}.age`]})
    expect(plan.actions.map((a) => [a.kind, touchedUid(a)])).toEqual([['no-op', pred.uid]])
    expect(plan.findings.map((f) => [f.kind, f.uid])).toEqual([['value-unconfirmed', next.uid]])
  })

  it('a moved key without its sealed file: the old owner\'s key is not deleted; past the grace the new key goes and the move is made again', () => {
    const old = liveKey({user: 'bob', name: 'mon', uid: hexUid(), annotations: {[CUSTODY]: 'folder'}})
    const moved = (age: number) => liveKey({user: 'alice', name: 'mon-next-1', uid: hexUid(), age, annotations: {[CUSTODY]: 'folder', [NAME]: 'mon', [REPLACES]: old.uid}})
    const MOVE = '  alice@example.com:\n    keys:\n      mon: {movedFrom: bob@example.com}\n  bob@example.com:\n    keys: {}\n'
    const young = moved(0)
    const waiting = planOf(grace(MOVE), [old, young], {sealFiles: [`bob@example.com/mon--${old.uid}.age`]})
    expect(waiting.actions.filter((a) => a.kind !== 'no-op')).toEqual([])
    expect(waiting.findings.map((f) => [f.kind, f.uid])).toEqual([['value-unconfirmed', young.uid]])
    const late = moved(1)
    const again = planOf(grace(MOVE), [old, late], {sealFiles: [`bob@example.com/mon--${old.uid}.age`]})
    expect(again.actions.map((a) => [a.kind, touchedUid(a)])).toEqual([['replace', old.uid], ['delete', late.uid]])
    // A REPLACES mark on a key the file does not move holds nothing back.
    const stray = planOf(grace('  alice@example.com:\n    keys:\n      mon: {}\n'), [old, young], {sealFiles: []})
    expect(stray.findings.filter((f) => f.uid === young.uid).map((f) => f.kind)).toEqual(['value-unconfirmed'])
    expect(stray.findings.some((f) => f.message.includes(`made to replace key ${old.uid}`))).toBe(false)
  })

  it('a revoked key palette-keys made, declared active, without its file: replaced past the grace, not reactivated (nobody has its value)', () => {
    const k = created('alice', 'ci', {active: false})
    expect(planOf(file(ALICE_CI), [k]).actions.map((a) => [a.kind, a.kind === 'rotate' ? a.cause : undefined])).toEqual([['rotate', 'value-lost']])
    expect(planOf(file(ALICE_CI), [k], {sealFiles: [`alice@example.com/ci--${k.uid}.age`]}).actions.map((a) => a.kind)).toEqual(['reactivate'])
  })
})

describe('custody: names', () => {
  it('a replacement whose declared name another key of the owner still holds (a retired key under it): made under a transient name', () => {
    const lost = created('alice', 'ci-next-1', {annotations: {[CUSTODY]: 'folder', [NAME]: 'ci'}})
    const holder = liveKey({user: 'alice', name: 'ci', uid: hexUid(), active: false, annotations: {[RETIRED_AT]: NOW.toISOString()}})
    const plan = planOf(file(ALICE_CI), [lost, holder])
    const rotate = plan.actions.find((a) => a.kind === 'rotate')
    expect(rotate?.kind === 'rotate' && [rotate.cause, rotate.target.name, rotate.target.createAs]).toEqual(['value-lost', 'ci', `ci-next-${holder.uid.slice(0, 8)}`])
    // Without another holder the successor takes the declared name at once: the predecessor steps aside itself.
    const alone = planOf(file(ALICE_CI), [lost]).actions.find((a) => a.kind === 'rotate')
    expect(alone?.kind === 'rotate' && [alone.target.createAs, alone.retiredAs]).toEqual([undefined, `ci-retired-${lost.uid.slice(0, 8)}`])
  })
})

function touchedUid(a: Plan['actions'][number]): string | undefined {
  return a.kind === 'create' ? undefined : a.kind === 'replace' ? a.from.uid : a.key.uid
}
