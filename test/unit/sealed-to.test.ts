import {execFileSync} from 'node:child_process'
import {mkdtemp, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {armor, Encrypter, Stanza} from 'age-encryption'
import {describe, expect, it} from 'vitest'
import {identityFileText, newIdentity} from '../../src/seal/identity.js'
import {recipientFingerprint, recipientLabel} from '../../src/seal/recipients.js'
import {encryptRecord, openSealed, readSealedTo, type SealedRecord, SEALED_TO_STANZA} from '../../src/seal/sealed-file.js'
import {haveAgeCli} from '../support/age-cli.js'

const record: SealedRecord = {user: 'alice@example.com', name: 'ci', uid: '0123456789abcdef01234567', expiry: '2027-01-01T00:00:00.000Z', host: 'https://palette.test', createdAt: '2026-06-01T00:00:00.000Z', apiKey: 'the-secret-value-0002'}

/** An armored age file to `recipients` with extra stanzas, as a forger with only public recipients can make. */
async function forged(recipients: string[], extra: Stanza[]): Promise<string> {
  const e = new Encrypter()
  for (const r of recipients) e.addRecipient(r)
  e.addRecipient({wrapFileKey: () => extra})
  return armor.encode(await e.encrypt('{}'))
}

describe('the recipients a sealed file records (issue 20.1)', () => {
  it('fingerprints and labels: stable, case-blind for age recipients, public only', async () => {
    const a = await newIdentity()
    expect(recipientFingerprint(a.recipient)).toMatch(/^[0-9a-f]{16}$/)
    expect(recipientFingerprint(a.recipient.toUpperCase())).toBe(recipientFingerprint(a.recipient))
    expect(recipientLabel(a.recipient)).toBe(`${a.recipient.slice(0, 8)}…${a.recipient.slice(-4)}`)
    expect(recipientFingerprint('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBase alice@laptop')).toBe(recipientFingerprint('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBase other-comment'))
    expect(recipientLabel('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBase alice@laptop')).toBe('alice@laptop')
  })

  it('a sealed file carries whom it is sealed to: read without an identity, and authentic once opened', async () => {
    const a = await newIdentity()
    const b = await newIdentity()
    const text = await encryptRecord(record, [b.recipient, a.recipient])
    const reading = await readSealedTo(text)
    expect(reading.problem).toBeUndefined()
    expect(reading.sealedTo!.to.map((e) => e.fp)).toEqual([recipientFingerprint(a.recipient), recipientFingerprint(b.recipient)].sort())
    expect(reading.sealedTo!.to.every((e) => e.kind === 'x25519')).toBe(true)
    expect(reading.sealedTo!.was).toEqual([])
    expect(JSON.stringify(reading)).not.toContain(a.identity)
    const opened = await openSealed(text, [a.identity])
    expect(opened.record).toEqual(record)
    expect(opened.header).toEqual(reading)
  })

  it('a reseal keeps who could read the value before (was) and whether that was unknown', async () => {
    const a = await newIdentity()
    const old = await newIdentity()
    const text = await encryptRecord(record, [a.recipient], {was: [{fp: recipientFingerprint(old.recipient), label: recipientLabel(old.recipient), kind: 'x25519'}], unrecordedBefore: true})
    const {sealedTo} = await readSealedTo(text)
    expect(sealedTo!.was.map((e) => e.fp)).toEqual([recipientFingerprint(old.recipient)])
    expect(sealedTo!.unrecordedBefore).toBe(true)
  })

  it('a file without a record, or with one that does not match its header, is not trusted', async () => {
    const a = await newIdentity()
    const b = await newIdentity()
    const plain = new Encrypter()
    plain.addRecipient(a.recipient)
    expect((await readSealedTo(armor.encode(await plain.encrypt('{}')))).problem).toMatch(/no record of its recipients/)
    // Sealed to two recipients, claiming one: a forger hiding a reader.
    const one = JSON.stringify({to: [{fp: recipientFingerprint(a.recipient), label: 'a', kind: 'x25519'}], was: []})
    const hidden = await forged([a.recipient, b.recipient], [new Stanza([SEALED_TO_STANZA, 'v1'], new TextEncoder().encode(one))])
    expect((await readSealedTo(hidden)).problem).toMatch(/does not match its header/)
    // Kinds must match too: an X25519 stanza claimed as post-quantum.
    const wrongKind = JSON.stringify({to: [{fp: recipientFingerprint(a.recipient), label: 'a', kind: 'pq'}], was: []})
    expect((await readSealedTo(await forged([a.recipient], [new Stanza([SEALED_TO_STANZA, 'v1'], new TextEncoder().encode(wrongKind))]))).problem).toMatch(/does not match its header/)
    // Two records, bad JSON, bad fingerprints, a label too long, an unknown version: all refused.
    const good = new Stanza([SEALED_TO_STANZA, 'v1'], new TextEncoder().encode(one))
    for (const extra of [
      [good, good],
      [new Stanza([SEALED_TO_STANZA, 'v1'], new TextEncoder().encode('{not json'))],
      [new Stanza([SEALED_TO_STANZA, 'v1'], new TextEncoder().encode(JSON.stringify({to: [{fp: 'ZZ', label: 'a', kind: 'x25519'}], was: []})))],
      [new Stanza([SEALED_TO_STANZA, 'v1'], new TextEncoder().encode(JSON.stringify({to: [{fp: recipientFingerprint(a.recipient), label: 'x'.repeat(201), kind: 'x25519'}], was: []})))],
      [new Stanza([SEALED_TO_STANZA, 'v2'], new TextEncoder().encode(one))],
    ]) {
      expect((await readSealedTo(await forged([a.recipient], extra))).problem).toMatch(/not one palette-keys wrote/)
    }
    expect((await readSealedTo('not age at all')).problem).toMatch(/not an age file/)
  })

  it.runIf(haveAgeCli())('Debian\'s age opens a file carrying the record (it skips the stanza type it does not know)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pk-sealed-to-'))
    const a = await newIdentity()
    await writeFile(join(dir, 'id.txt'), identityFileText(a, new Date()), {mode: 0o600})
    await writeFile(join(dir, 'v.age'), await encryptRecord(record, [a.recipient]))
    const plain = JSON.parse(execFileSync('age', ['-d', '-i', join(dir, 'id.txt'), join(dir, 'v.age')]).toString()) as SealedRecord
    expect(plain.uid).toBe(record.uid)
  })
})
