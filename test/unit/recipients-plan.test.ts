import {describe, expect, it} from 'vitest'
import {audit} from '../../src/audit/audit.js'
import type {Plan} from '../../src/plan/model.js'
import {CUSTODY, SEALED_TO} from '../../src/plan/ownership.js'
import {renderMarkdown} from '../../src/render/markdown.js'
import {renderText} from '../../src/render/text.js'
import {recipientFingerprint, recipientLabel} from '../../src/seal/recipients.js'
import {type HeaderReading, sealedToEntries} from '../../src/seal/sealed-file.js'
import {desired, liveKey, liveState, NOW, planOf} from '../support/plan-fixtures.js'

/**
 * Recipients per value (issue 20.0, 20.1, 20.3) as the pure diff sees them: the headers of the
 * sealed files are an input, read without an identity.
 */
const OPS_A = 'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c'
const OPS_B = 'age1pcvjeuzn0ejuhdev88zd454khtluqvprsp97pfpxhpwv8ddmec7qat4w0y'
const ALICE = 'age19y8cg0n2w5nqf8k6rph5563uu2yd5rwttmq5xhwu7q0zrmz4ey7s3eayqa'

let serial = 0
const hexUid = () => `beef${(++serial).toString(16).padStart(20, '0')}`
const created = (user: 'alice' | 'bob', name: string) => liveKey({user, name, age: 1, uid: hexUid(), annotations: {[CUSTODY]: 'folder'}})
const sealedTo = (to: string[], was: string[] = []): HeaderReading => ({sealedTo: {to: sealedToEntries(to), was: sealedToEntries(was)}})

const FILE = `seal: {recipients: [${OPS_A}], custodyGrace: 0h}
users:
  alice@example.com:
    seal: {recipients: [${ALICE}]}
    keys:
      laptop: {}
      ci:
        seal: {recipients: [${OPS_A}]}
  bob@example.com:
    keys:
      deploy: {}
`

/** The plan for `yaml` cut down to the keys given (the others would be creates). */
function planWith(yaml: string, headers: Array<[ReturnType<typeof created>, HeaderReading]>): Plan {
  const keys = headers.map(([k]) => k)
  const names = new Set(keys.map((k) => k.name))
  for (const name of ['laptop', 'ci', 'deploy']) {
    if (!names.has(name)) yaml = yaml.replace(new RegExp(`      ${name}:( \\{\\}|\\n        seal: \\{[^\\n]*\\})\\n`), '')
  }
  yaml = yaml.replace(/    keys:\n(?!      )/g, '    keys: {}\n')
  const owner = (k: ReturnType<typeof created>) => (k.userUid.startsWith('a11ce') ? 'alice@example.com' : 'bob@example.com')
  const files = headers.map(([k]) => `${owner(k)}/${k.name}--${k.uid}.age`)
  return planOf(yaml, keys, {sealFiles: files, sealHeaders: Object.fromEntries(headers.map(([, h], i) => [files[i]!, h]))})
}

describe('recipients per user and per key', () => {
  it('the nearest list wins: a key\'s, else its user\'s, else the file\'s; the plan names them, never identities', () => {
    const plan = planOf(FILE, [])
    const to = Object.fromEntries(plan.actions.map((a) => [a.address, a.kind === 'create' ? a.target.sealTo : undefined]))
    expect(to['alice@example.com/laptop']).toEqual({recipients: [ALICE], from: 'users["alice@example.com"].seal.recipients'})
    expect(to['alice@example.com/ci']).toEqual({recipients: [OPS_A], from: 'users["alice@example.com"].keys.ci.seal.recipients'})
    expect(to['bob@example.com/deploy']).toEqual({recipients: [OPS_A], from: 'seal.recipients'})
    const text = renderText(plan, {color: false})
    expect(text).toContain(`sealed to ${recipientLabel(ALICE)} (users["alice@example.com"].seal.recipients)`)
    expect(renderMarkdown(plan).join('')).toContain(`sealed to ${recipientLabel(OPS_A)} \\(seal.recipients\\)`)
    expect(text).toContain('3 new key values will be sealed to 2 recipients')
  })

  it('an empty file-wide list refuses only the creates that inherit it', () => {
    const own = planOf(`seal: {recipients: []}\nusers:\n  alice@example.com:\n    seal: {recipients: [${ALICE}]}\n    keys:\n      laptop: {}\n`, [])
    expect(own.errors).toEqual([])
    const inherits = planOf(`seal: {recipients: []}\nusers:\n  alice@example.com:\n    seal: {recipients: [${ALICE}]}\n    keys:\n      laptop: {}\n  bob@example.com:\n    keys:\n      deploy: {}\n`, [])
    expect(inherits.errors.map((e) => e.code)).toEqual(['no-recipients'])
    expect(inherits.errors[0]!.message).toContain('1 key value')
  })
})

describe('whom each live value is sealed to', () => {
  it('sealed to its list: nothing to say', () => {
    const plan = planWith(FILE, [[created('alice', 'laptop'), sealedTo([ALICE])], [created('bob', 'deploy'), sealedTo([OPS_A])]])
    expect(plan.changes).toBe(false)
    expect(plan.findings).toEqual([])
  })

  it('a recipient added: sealed-to-other-recipients, and a reseal would help; no rotation', () => {
    const yaml = FILE.replace(`seal: {recipients: [${OPS_A}], custodyGrace: 0h}`, `seal: {recipients: [${OPS_A}, ${OPS_B}], custodyGrace: 0h}`)
    const deploy = created('bob', 'deploy')
    const plan = planWith(yaml, [[deploy, sealedTo([OPS_A])]])
    expect(plan.actions.map((a) => a.kind)).toEqual(['no-op'])
    expect(plan.findings.map((f) => [f.kind, f.address, f.uid])).toEqual([['sealed-to-other-recipients', 'bob@example.com/deploy', deploy.uid]])
    expect(plan.findings[0]!.message).toContain(`not to ${recipientLabel(OPS_B)} of seal.recipients`)
    expect(plan.findings[0]!.message).toContain('palette-keys reseal')
    const report = audit(desired(yaml), liveState([deploy]), plan, NOW, 30 * 86_400_000)
    expect(report.counts['sealed-to-other-recipients']).toBe(1)
    expect(report.clean).toBe(false)
  })

  it('a recipient removed: exactly the values it could read are rotated, cause recipient-removed, in every format', () => {
    const yaml = FILE.replace(`seal: {recipients: [${OPS_A}], custodyGrace: 0h}`, `seal: {recipients: [${OPS_B}], custodyGrace: 0h}`).replace(`ci:\n        seal: {recipients: [${OPS_A}]}`, `ci:\n        seal: {recipients: [${OPS_B}]}`)
    const deploy = created('bob', 'deploy')
    const ci = created('alice', 'ci')
    const laptop = created('alice', 'laptop')
    // deploy and ci were sealed to ops-a; laptop to alice only, so ops-a never could read it.
    const plan = planWith(yaml, [[deploy, sealedTo([OPS_A])], [ci, sealedTo([OPS_A, OPS_B])], [laptop, sealedTo([ALICE])]])
    const rotations = plan.actions.filter((a) => a.kind === 'rotate')
    expect(rotations.map((a) => [a.address, a.kind === 'rotate' ? a.cause : undefined]).sort()).toEqual([
      ['alice@example.com/ci', 'recipient-removed'],
      ['bob@example.com/deploy', 'recipient-removed'],
    ])
    expect(rotations[0]!.reason).toContain(`sealed to ${recipientLabel(OPS_A)}, no longer in`)
    expect(plan.actions.find((a) => a.address === 'alice@example.com/laptop')?.kind).toBe('no-op')
    expect(renderText(plan, {color: false})).toContain('rotate (recipient removed)')
    expect(renderMarkdown(plan).join('')).toContain('rotate \\(recipient removed\\)')
    const report = audit(desired(yaml), liveState([deploy, ci, laptop]), plan, NOW, 30 * 86_400_000)
    expect(report.counts['recipient-removed']).toBe(2)
  })

  it('one a reseal dropped (was) still counts: the old file stays in git history', () => {
    const deploy = created('bob', 'deploy')
    const plan = planWith(FILE, [[deploy, sealedTo([OPS_A], [OPS_B])]])
    expect(plan.actions.map((a) => (a.kind === 'rotate' ? a.cause : a.kind))).toEqual(['recipient-removed'])
  })

  it('policy.rotateOnRecipientRemoval: false reports instead of rotating', () => {
    const yaml = `policy: {rotateOnRecipientRemoval: false}\n${FILE.replace(`seal: {recipients: [${OPS_A}], custodyGrace: 0h}`, `seal: {recipients: [${OPS_B}], custodyGrace: 0h}`)}`
    const deploy = created('bob', 'deploy')
    const plan = planWith(yaml, [[deploy, sealedTo([OPS_A])]])
    expect(plan.actions.map((a) => a.kind)).toEqual(['no-op'])
    expect(plan.policy.rotateOnRecipientRemoval).toBe(false)
    expect(plan.findings.map((f) => f.kind)).toEqual(['sealed-to-other-recipients'])
    expect(plan.findings[0]!.message).toContain(`${recipientLabel(OPS_A)} is no longer listed and may keep a copy`)
  })

  it('a file that records nothing usable is recipients-unrecorded: reported, never assumed current nor rotated; audit stays clean', () => {
    const deploy = created('bob', 'deploy')
    const plan = planWith(FILE, [[deploy, {problem: 'no record of its recipients (sealed before palette-keys recorded them, or by another tool)'}]])
    expect(plan.actions.map((a) => a.kind)).toEqual(['no-op'])
    expect(plan.findings.map((f) => f.kind)).toEqual(['recipients-unrecorded'])
    const report = audit(desired(FILE), liveState([deploy]), plan, NOW, 30 * 86_400_000)
    expect(report.counts['recipients-unrecorded']).toBe(1)
    expect(report.clean).toBe(true)
  })

  it('the key\'s own mark (paletteKeysSealedTo, set at creation) is evidence too: a file rewritten to claim the current list does not dodge the rotation', () => {
    const yaml = FILE.replace(`seal: {recipients: [${OPS_A}], custodyGrace: 0h}`, `seal: {recipients: [${OPS_B}], custodyGrace: 0h}`)
    const deploy = created('bob', 'deploy')
    deploy.annotations[SEALED_TO] = recipientFingerprint(OPS_A)
    // The seal folder says "sealed to ops-b" (a forged or wrongly resealed file); the mark says ops-a read it.
    const plan = planWith(yaml, [[deploy, sealedTo([OPS_B])]])
    expect(plan.actions.map((a) => (a.kind === 'rotate' ? a.cause : a.kind))).toEqual(['recipient-removed'])
    expect(plan.actions[0]!.reason).toContain(`recipient ${recipientFingerprint(OPS_A)}`)
    // Under custody mark there is no file in the checkout: the mark alone rotates it.
    const marked = created('bob', 'deploy')
    marked.annotations[SEALED_TO] = `${recipientFingerprint(OPS_A)},not-a-fingerprint`
    const markCustody = `seal: {recipients: [${OPS_B}], custody: mark}\nusers:\n  bob@example.com:\n    keys:\n      deploy: {}\n`
    const alone = planOf(markCustody, [marked])
    expect(alone.actions.map((a) => (a.kind === 'rotate' ? a.cause : a.kind))).toEqual(['recipient-removed'])
    // A mark naming only current recipients (or nothing usable) rotates nothing.
    const current = created('bob', 'deploy')
    current.annotations[SEALED_TO] = `${recipientFingerprint(OPS_B)},zz`
    expect(planOf(markCustody, [current]).actions.map((a) => a.kind)).toEqual(['no-op'])
  })

  it('a forged label is shown inertly (it is the seal folder\'s text)', () => {
    const deploy = created('bob', 'deploy')
    const forged: HeaderReading = {sealedTo: {to: [{fp: recipientFingerprint(OPS_B), label: '\u001b]8;;https://evil\u0007click\u001b[2J', kind: 'x25519'}], was: []}}
    const plan = planWith(FILE, [[deploy, forged]])
    const text = renderText(plan, {color: false})
    expect(text).toContain('rotate (recipient removed)')
    expect(text).not.toContain('\u001b')
    expect(text).not.toContain('\u0007')
  })
})
