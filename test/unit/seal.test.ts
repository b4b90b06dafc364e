import {mkdtemp, readFile, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {bech32} from '@scure/base'
import {Encrypter} from 'age-encryption'
import {beforeEach, describe, expect, it} from 'vitest'
import {identityFileText, newIdentity, readIdentityFile} from '../../src/seal/identity.js'
import {recipientProblem, trialSealProblems} from '../../src/seal/recipients.js'
import {decryptRecord, encryptRecord, NotForUs, type SealedRecord, sealedRelativePath} from '../../src/seal/sealed-file.js'
import {listSealedFiles, SealDir} from '../../src/seal/seal-dir.js'
import {unsealPaths, unsealProblems} from '../../src/seal/unseal.js'
import {PaletteKeysError} from '../../src/util/errors.js'
import {registerSecret} from '../../src/util/scrub.js'

const record = (over: Partial<SealedRecord> = {}): SealedRecord => ({
  user: 'alice@example.com',
  name: 'ci-deploy',
  uid: '0123456789abcdef01234567',
  expiry: '2027-01-01T00:00:00.000Z',
  host: 'https://palette.test',
  createdAt: '2026-06-01T00:00:00.000Z',
  apiKey: 'the-secret-value-0001',
  ...over,
})

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pk-seal-'))
})

describe('sealed files', () => {
  it('round-trip: armored age, the JSON plaintext, to several recipients', async () => {
    const a = await newIdentity()
    const b = await newIdentity()
    const text = await encryptRecord(record(), [a.recipient, b.recipient])
    expect(text.startsWith('-----BEGIN AGE ENCRYPTED FILE-----')).toBe(true)
    expect(text).not.toContain('the-secret-value-0001')
    expect(await decryptRecord(text, [a.identity])).toEqual(record())
    expect(await decryptRecord(text, [b.identity])).toEqual(record())
    const stranger = await newIdentity()
    await expect(decryptRecord(text, [stranger.identity])).rejects.toBeInstanceOf(NotForUs)
  })

  it('names files EMAIL/NAME--UID.age, safe for any name', () => {
    expect(sealedRelativePath(record())).toBe('alice@example.com/ci-deploy--0123456789abcdef01234567.age')
    expect(sealedRelativePath(record({name: '../../etc/passwd x'}))).toBe('alice@example.com/__.._etc_passwd_x--0123456789abcdef01234567.age')
  })

  it('SealDir writes 0600 files in a 0700 folder, atomically, and removes them by uid', async () => {
    const id = await newIdentity()
    const seal = new SealDir(join(dir, 'sealed'))
    await seal.prepare()
    const path = await seal.seal(record(), [id.recipient])
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'sealed'))).mode & 0o777).toBe(0o700)
    expect(await listSealedFiles(join(dir, 'sealed'))).toEqual([path])
    expect(await seal.removeFor('ffffffffffffffffffffffff')).toEqual([])
    expect(await seal.removeFor(record().uid)).toEqual([path])
    expect(await listSealedFiles(join(dir, 'sealed'))).toEqual([])
  })

  it('SealDir lists the folder once: files there before (any user folder, renamed), files sealed after, each removed by uid exactly once', async () => {
    const id = await newIdentity()
    const sealed = join(dir, 'sealed')
    const seal = new SealDir(sealed)
    await seal.prepare()
    const before = await seal.seal(record(), [id.recipient])
    // Another file of the same key, under another user's folder and name (a rename, a move).
    const planted = join(sealed, 'bob@example.com', `old-name--${record().uid}.age`)
    await seal.seal(record({user: 'bob@example.com', name: 'old-name'}), [id.recipient])
    expect(await seal.removeFor('ffffffffffffffffffffffff')).toEqual([])
    const second = record({uid: 'abcdefabcdefabcdefabcdef', name: 'second'})
    const after = await seal.seal(second, [id.recipient])
    expect((await seal.removeFor(record().uid)).sort()).toEqual([before, planted].sort())
    expect(await seal.removeFor(record().uid)).toEqual([])
    expect(await seal.removeFor(second.uid)).toEqual([after])
    expect(await listSealedFiles(sealed)).toEqual([])
  })

  it('never writes a file whose name holds a secret this process knows (a uid a server made of the API key)', async () => {
    const id = await newIdentity()
    const seal = new SealDir(join(dir, 'sealed'))
    await seal.prepare()
    registerSecret('fedcba9876543210fedcba98')
    await expect(seal.seal(record({uid: 'fedcba9876543210fedcba98'}), [id.recipient])).rejects.toMatchObject({code: 'ESECRETNAME'})
    expect(await listSealedFiles(join(dir, 'sealed'))).toEqual([])
  })
})

describe('seal folder safety', () => {
  it('refuses a world-writable folder unless allowed', async () => {
    const {chmod} = await import('node:fs/promises')
    const open = join(dir, 'open')
    const seal = new SealDir(open)
    await seal.prepare()
    await chmod(open, 0o777)
    await expect(seal.prepare()).rejects.toMatchObject({exitCode: 64, code: 'seal-dir-world-writable'})
    await expect(seal.prepare({allowWorldWritable: true})).resolves.toBeUndefined()
  })
})

describe('identities', () => {
  it('our identity files have age-keygen\'s layout and read back', async () => {
    const id = await newIdentity()
    const text = identityFileText(id, new Date('2026-06-01T00:00:00Z'))
    expect(text).toBe(`# created: 2026-06-01T00:00:00Z\n# public key: ${id.recipient}\n${id.identity}\n`)
    await writeFile(join(dir, 'id.txt'), text)
    expect(await readIdentityFile(join(dir, 'id.txt'))).toEqual([id.identity])
    expect(recipientProblem(id.recipient)).toBeUndefined()
  })

  it('refuses a file with no identity', async () => {
    await writeFile(join(dir, 'empty.txt'), '# nothing\n')
    await expect(readIdentityFile(join(dir, 'empty.txt'))).rejects.toMatchObject({exitCode: 64, code: 'identity-invalid'})
  })
})

describe('recipientProblem', () => {
  // age-encryption is the oracle: our lighter check must accept exactly the X25519
  // recipients it accepts (it is what seals the values in the end).
  const libraryAccepts = (r: string) => {
    try {
      new Encrypter().addRecipient(r)
      return true
    } catch {
      return false
    }
  }
  it('accepts exactly the X25519 recipients age-encryption accepts', async () => {
    const good = [(await newIdentity()).recipient, (await newIdentity()).recipient, 'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c']
    const flip = (r: string, i: number) => r.slice(0, i) + (r[i] === 'q' ? 'p' : 'q') + r.slice(i + 1)
    const bad = [
      ...good.map((r) => flip(r, r.length - 1)), // checksum
      ...good.map((r) => flip(r, 10)), // payload
      good[0]!.slice(0, -1), // truncated
      good[0]! + 'q', // too long
      bech32.encodeFromBytes('age', new Uint8Array(31)), // 31 bytes
      bech32.encodeFromBytes('age', new Uint8Array(33)), // 33 bytes
      bech32.encodeFromBytes('agex', new Uint8Array(32)), // another prefix
      good[0]!.replace('age1', 'age1 '),
      'age1',
      'age1qqqq',
      good[0]!.toUpperCase(), // age writes recipients in lower case
      good[0]!.slice(0, 20) + good[0]!.slice(20).toUpperCase(), // mixed case is never valid bech32
    ]
    expect(bad.every((r) => r !== good[0])).toBe(true)
    for (const r of [...good, ...bad]) {
      expect(recipientProblem(r) === undefined, r).toBe(libraryAccepts(r) && r.startsWith('age1'))
    }
    expect(good.every((r) => recipientProblem(r) === undefined)).toBe(true)
    expect(bad.every((r) => recipientProblem(r) !== undefined)).toBe(true)
  })

  it('accepts exactly the post-quantum (age1pq1…) recipients age-encryption accepts; refuses tag recipients', async () => {
    const good = [(await newIdentity({pq: true})).recipient, (await newIdentity({pq: true})).recipient]
    expect(good.every((r) => r.startsWith('age1pq1') && r.length > 1900)).toBe(true)
    const flip = (r: string, i: number) => r.slice(0, i) + (r[i] === 'q' ? 'p' : 'q') + r.slice(i + 1)
    const bad = [
      ...good.map((r) => flip(r, r.length - 1)), // checksum
      ...good.map((r) => flip(r, 500)), // payload
      good[0]!.slice(0, -1), // truncated
      bech32.encode('age1pq', bech32.toWords(new Uint8Array(1215)), false), // 1,215 bytes
      bech32.encode('age1pq', bech32.toWords(new Uint8Array(32)), false), // an X25519 payload under the PQ prefix
      'age1pq1' + 'q'.repeat(60),
      good[0]!.toUpperCase(),
    ]
    for (const r of [...good, ...bad]) expect(recipientProblem(r) === undefined, r.slice(0, 40)).toBe(libraryAccepts(r))
    expect(good.every((r) => recipientProblem(r) === undefined)).toBe(true)
    expect(bad.every((r) => recipientProblem(r) !== undefined)).toBe(true)
    expect(recipientProblem('age1tag1' + 'q'.repeat(60))).toMatch(/not an age X25519 \(age1…\) or post-quantum/)
  })

  it('trial seal: refuses exactly the X25519 recipients age-encryption cannot seal to (the low-order points), without loading it', async () => {
    // Every small-order point of Curve25519 and its non-canonical encodings (RFC 7748 §6.1's
    // zero check): the shared secret is zero, which age refuses; Node's X25519 must refuse it too.
    const lowOrder = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ].map((hex) => bech32.encodeFromBytes('age', Buffer.from(hex, 'hex')))
    const good = [(await newIdentity()).recipient, bech32.encodeFromBytes('age', new Uint8Array(32).fill(9))]
    const sealable = async (r: string) => {
      try {
        const e = new Encrypter()
        e.addRecipient(r)
        await e.encrypt('x')
        return true
      } catch {
        return false
      }
    }
    const all = [...good, ...lowOrder]
    const problems = new Set((await trialSealProblems(all)).map((p) => p.index))
    for (const [i, r] of all.entries()) expect(!problems.has(i), r).toBe(await sealable(r))
    expect(problems.size).toBe(lowOrder.length)
  })
})

describe('unsealPaths', () => {
  it('serves one record per key; two records for one key (a planted far-future one, say) are a conflict, never chosen by createdAt', async () => {
    const me = await newIdentity()
    const other = await newIdentity()
    const seal = new SealDir(dir)
    await seal.seal(record({name: 'web', uid: 'web000000000000000000000', apiKey: 'web-value-0001'}), [me.recipient])
    await seal.seal(record({uid: 'old000000000000000000000', createdAt: '2026-01-01T00:00:00.000Z', apiKey: 'old-value-0001'}), [me.recipient])
    await seal.seal(record({uid: 'new000000000000000000000', createdAt: '2099-05-01T00:00:00.000Z', apiKey: 'planted-value-0001'}), [me.recipient])
    await new SealDir(dir).seal(record({user: 'bob@example.com', uid: 'bob000000000000000000000'}), [other.recipient])
    const result = await unsealPaths([dir], [me.identity])
    expect(result.records.map((r) => [r.user, r.name, r.apiKey])).toEqual([['alice@example.com', 'web', 'web-value-0001']])
    expect(result.conflicts).toEqual([{key: 'alice@example.com/ci-deploy', uids: ['new000000000000000000000', 'old000000000000000000000']}])
    expect(result.notForUs).toHaveLength(1)
    expect(unsealProblems(result)?.message).toMatch(/alice@example\.com\/ci-deploy: 2 sealed records/)
  })

  it('a record whose uid is not its file name\'s is not used; a corrupt file is reported by name and the rest still served, with no plaintext shown', async () => {
    const me = await newIdentity()
    const seal = new SealDir(dir)
    const good = await seal.seal(record({name: 'web', uid: 'web000000000000000000000', apiKey: 'web-value-0001'}), [me.recipient])
    const real = await seal.seal(record({uid: 'real00000000000000000000', apiKey: 'real-value-0001'}), [me.recipient])
    await writeFile(join(dir, 'alice@example.com', 'ci-deploy--fake00000000000000000000.age'), await readFile(real, 'utf8'))
    const encrypter = new Encrypter()
    encrypter.addRecipient(me.recipient)
    const notRecord = await encrypter.encrypt('hello world, not a record')
    const {armor} = await import('age-encryption')
    await writeFile(join(dir, 'alice@example.com', 'junk--junk00000000000000000000.age'), armor.encode(notRecord))
    const text = await readFile(good, 'utf8')
    await writeFile(join(dir, 'alice@example.com', 'cut--cut000000000000000000000.age'), text.slice(0, text.length / 2))
    const result = await unsealPaths([dir], [me.identity])
    expect(result.records.map((r) => r.apiKey).sort()).toEqual(['real-value-0001', 'web-value-0001'])
    expect(result.broken.map((b) => b.split(': ')[0]!.split('/').at(-1))).toEqual(['ci-deploy--fake00000000000000000000.age', 'cut--cut000000000000000000000.age', 'junk--junk00000000000000000000.age'])
    const problem = unsealProblems(result)!
    expect(problem).toBeInstanceOf(PaletteKeysError)
    expect(problem.exitCode).toBe(1)
    expect(problem.message).not.toMatch(/value-0001|hello/)
  })

  it('nothing opened (a wrong identity) is a failure, not an empty success', async () => {
    const me = await newIdentity()
    const other = await newIdentity()
    await new SealDir(dir).seal(record(), [me.recipient])
    const result = await unsealPaths([dir], [other.identity])
    expect(result.records).toEqual([])
    expect(unsealProblems(result)?.message).toMatch(/None of the 1 sealed files could be opened/)
  })
})

describe('reading the seal folder\'s headers (plan, no identity)', () => {
  it('reads a sealed file\'s record; a link, a folder, a FIFO and an oversized file are reported, none followed, opened for long, or read whole', async () => {
    const {execFileSync, spawnSync} = await import('node:child_process')
    const {mkdir, symlink, truncate} = await import('node:fs/promises')
    const {readSealedHeaders, MAX_SEALED_BYTES} = await import('../../src/seal/seal-dir.js')
    const a = await newIdentity()
    const sealed = join(dir, 'sealed', 'alice@example.com')
    await mkdir(sealed, {recursive: true})
    const good = 'ci--0123456789abcdef01234567.age'
    await writeFile(join(sealed, good), await encryptRecord(record(), [a.recipient]))
    // A link to a sealed file elsewhere (outside the folder): its header is not read through the link.
    const outside = join(dir, 'outside.age')
    await writeFile(outside, await encryptRecord(record(), [a.recipient]))
    await symlink(outside, join(sealed, 'link--0123456789abcdef01234568.age'))
    await mkdir(join(sealed, 'folder--0123456789abcdef01234569.age'))
    // A FIFO would block a plain read until a writer came: the plan must go on.
    execFileSync('mkfifo', [join(sealed, 'fifo--0123456789abcdef0123456a.age')])
    await writeFile(join(sealed, 'big--0123456789abcdef0123456b.age'), '')
    await truncate(join(sealed, 'big--0123456789abcdef0123456b.age'), MAX_SEALED_BYTES + 1)
    const names = ['link--0123456789abcdef01234568.age', 'folder--0123456789abcdef01234569.age', 'big--0123456789abcdef0123456b.age', 'gone--0123456789abcdef0123456c.age', good].map((n) => `alice@example.com/${n}`)
    const read = await readSealedHeaders(join(dir, 'sealed'), names)
    expect(read[`alice@example.com/${good}`]?.sealedTo?.to.map((e) => e.kind)).toEqual(['x25519'])
    expect(read['alice@example.com/link--0123456789abcdef01234568.age']).toEqual({problem: 'not a regular file'})
    expect(read['alice@example.com/folder--0123456789abcdef01234569.age']).toEqual({problem: 'not a regular file'})
    // The FIFO is asked of the built reader in a child with a deadline: should a change make the open block, the run fails instead of hanging.
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `const {readSealedHeaders} = await import(${JSON.stringify(new URL('../../dist/seal/seal-dir.js', import.meta.url).href)}); console.log(JSON.stringify(await readSealedHeaders(${JSON.stringify(join(dir, 'sealed'))}, ['alice@example.com/fifo--0123456789abcdef0123456a.age'])))`], {encoding: 'utf8', timeout: 20_000})
    expect(child.status, child.stderr).toBe(0)
    expect(JSON.parse(child.stdout)).toEqual({'alice@example.com/fifo--0123456789abcdef0123456a.age': {problem: 'not a regular file'}})
    expect(read['alice@example.com/big--0123456789abcdef0123456b.age']).toEqual({problem: `${MAX_SEALED_BYTES + 1} bytes: not a sealed file`})
    expect(read['alice@example.com/gone--0123456789abcdef0123456c.age']).toEqual({problem: 'unreadable (ENOENT)'})
    // The listing plan reads names regular files only (the oversized one is one; its header is not read).
    expect((await listSealedFiles(join(dir, 'sealed'))).map((f) => f.split('/').pop())).toEqual(['big--0123456789abcdef0123456b.age', good])
  })
})
