import {execFileSync} from 'node:child_process'
import {mkdtemp, readFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {identitiesFromText} from '../../src/seal/identity.js'
import {recipientFingerprint, recipientKind, recipientLabel, recipientProblem, trialSealProblems} from '../../src/seal/recipients.js'
import {encryptRecord, openSealed, readSealedTo, type SealedRecord} from '../../src/seal/sealed-file.js'
import {parseSshPublicKey} from '../../src/seal/ssh-key.js'
import {haveSshKeygen} from '../support/age-cli.js'

const record: SealedRecord = {user: 'alice@example.com', name: 'ci', uid: '0123456789abcdef01234567', expiry: '2027-01-01T00:00:00.000Z', host: 'https://palette.test', createdAt: '2026-06-01T00:00:00.000Z', apiKey: 'the-secret-value-0003'}

async function keygen(type: 'ed25519' | 'rsa', bits?: number): Promise<{priv: string; pub: string}> {
  const dir = await mkdtemp(join(tmpdir(), 'pk-ssh-unit-'))
  const file = join(dir, 'id')
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', `${type}@test`, '-f', file])
  return {priv: await readFile(file, 'utf8'), pub: (await readFile(`${file}.pub`, 'utf8')).trim()}
}

describe.runIf(haveSshKeygen())('ssh-ed25519 and ssh-rsa recipients (age spec)', () => {
  it('round trip for each type, the file recording them as SSH kinds; the other key opens nothing', async () => {
    const ed = await keygen('ed25519')
    const rsa = await keygen('rsa', 2048)
    for (const k of [ed, rsa]) expect(recipientProblem(k.pub)).toBeUndefined()
    expect(await trialSealProblems([ed.pub, rsa.pub])).toEqual([])
    const text = await encryptRecord(record, [ed.pub, rsa.pub])
    const {sealedTo} = await readSealedTo(text)
    expect(sealedTo!.to.map((e) => e.kind).sort()).toEqual(['ssh-ed25519', 'ssh-rsa'])
    expect(sealedTo!.to.map((e) => e.label).sort()).toEqual(['ed25519@test', 'rsa@test'])
    for (const k of [ed, rsa]) expect((await openSealed(text, identitiesFromText(k.priv, 'id'))).record).toEqual(record)
    const onlyEd = await encryptRecord(record, [ed.pub])
    await expect(openSealed(onlyEd, identitiesFromText(rsa.priv, 'id'))).rejects.toThrow(/other recipients/)
  })

  it('a key\'s comment is not part of it: fingerprint and kind ignore it; the label is the comment', async () => {
    const ed = await keygen('ed25519')
    const [type, blob] = ed.pub.split(' ')
    expect(recipientFingerprint(`${type} ${blob} someone-else`)).toBe(recipientFingerprint(ed.pub))
    expect(recipientKind(ed.pub)).toBe('ssh-ed25519')
    expect(recipientLabel(`${type} ${blob}`)).toBe(`ssh-ed25519 …${blob!.slice(-8)}`)
  })

  it('refuses what age refuses: RSA under 2048 bits, other key types, a blob of another type than its line says, garbage', async () => {
    const small = await keygen('rsa', 1024)
    expect(recipientProblem(small.pub)).toMatch(/RSA key of 1024 bits/)
    const ed = await keygen('ed25519')
    const blob = ed.pub.split(' ')[1]!
    expect(recipientProblem(`ssh-rsa ${blob}`)).toMatch(/says it is ssh-ed25519, not ssh-rsa/)
    expect(recipientProblem('ssh-dss AAAAB3NzaC1kc3MAAACBAP')).toMatch(/only ssh-ed25519 and ssh-rsa/)
    expect(recipientProblem('ssh-ed25519 !!!notbase64')).toMatch(/not base64/)
    expect(recipientProblem('ssh-ed25519')).toMatch(/missing/)
    expect(() => parseSshPublicKey(`ssh-ed25519 ${blob.slice(0, 40)}`)).toThrow()
  })

  it('private key files: unencrypted OpenSSH keys are identities; a damaged one is refused without quoting it', async () => {
    const ed = await keygen('ed25519')
    expect(identitiesFromText(ed.priv, 'id')).toHaveLength(1)
    const lines = ed.priv.split('\n')
    // Cut after the public part: the private part is missing.
    const damaged = [lines[0], lines[1], lines[2], lines.at(-2)].join('\n')
    let message = ''
    try {
      identitiesFromText(damaged, 'id')
    } catch (error) {
      message = (error as Error).message
    }
    expect(message).toMatch(/^id is an OpenSSH private key palette-keys cannot use/)
    expect(message).not.toContain(lines[1]!.slice(0, 30))
  })
})
