import {Decrypter, armor} from 'age-encryption'
import fc from 'fast-check'
import {beforeAll, describe, expect, it} from 'vitest'
import {newIdentity} from '../../src/seal/identity.js'
import {encryptRecord, plainHeaderStanzas, readSealedTo, readSealedToWithLibrary} from '../../src/seal/sealed-file.js'

/**
 * plan reads whom each sealed file is sealed to from its header; a header as age-encryption writes
 * it is read by plainHeaderStanzas (synchronous), anything else by the library's own parser. The
 * fast reader must never read a header otherwise than the library: whatever it accepts, the library
 * parses to the same stanzas. Held on files sealed to one to three recipients (X25519, post-quantum)
 * and on every kind of damage to them: bytes changed (to non-ASCII too), lines dropped, repeated,
 * split or joined, spaces added, the end cut. PROPERTY_RUNS sets the number of damaged cases.
 */
const RUNS = Number(process.env.PROPERTY_RUNS ?? 500)

type Stanzas = Array<{args: string[]; body: Uint8Array}>

/** The stanzas age-encryption's parser reads from a header, or undefined when it refuses it. */
async function libraryStanzas(header: Uint8Array): Promise<Stanzas | undefined> {
  let seen: Stanzas | undefined
  const d = new Decrypter()
  d.addIdentity({
    unwrapFileKey(s: Stanzas) {
      seen = s
      return null
    },
  })
  await d.decryptHeader(header).catch(() => undefined)
  return seen
}

const same = (a: Stanzas, b: Stanzas) => a.length === b.length && a.every((s, i) => JSON.stringify(s.args) === JSON.stringify(b[i]!.args) && Buffer.compare(Buffer.from(s.body), Buffer.from(b[i]!.body)) === 0)

/** Up to the MAC line, as the plan reads it. */
function headerOf(file: Uint8Array): Uint8Array {
  const b = Buffer.from(file)
  const mac = b.indexOf('\n--- ')
  return b.subarray(0, b.indexOf('\n', mac + 1) + 1)
}

let headers: Uint8Array[] = []
let files: string[] = []
beforeAll(async () => {
  const x = await Promise.all([newIdentity(), newIdentity(), newIdentity()])
  const pq = await newIdentity({pq: true})
  const record = {user: 'alice@example.com', name: 'ci', uid: '0123456789abcdef01234567', expiry: '2027-01-01T00:00:00.000Z', host: 'https://palette.test', createdAt: '2026-06-01T00:00:00.000Z', apiKey: 'header-test-value-0001'}
  const lists = [[x[0].recipient], [x[0].recipient, x[1].recipient], [x[0].recipient, x[1].recipient, x[2].recipient], [pq.recipient, x[0].recipient]]
  files = await Promise.all(lists.map((l) => encryptRecord(record, l, {was: [{fp: '00112233aabbccdd', label: 'gone', kind: 'x25519'}]})))
  headers = files.map((f) => headerOf(armor.decode(f)))
}, 60_000)

describe('the sealed-file header reader', () => {
  it('reads every header age-encryption writes (the fast path is taken) as the library does', async () => {
    for (const [i, h] of headers.entries()) {
      const fast = plainHeaderStanzas(h)
      expect(fast, `file ${i}`).toBeDefined()
      expect(same(fast!, (await libraryStanzas(h))!)).toBe(true)
      expect(await readSealedTo(files[i]!)).toEqual(await readSealedToWithLibrary(h))
    }
  })

  it('never accepts a damaged header the library reads otherwise or refuses', async () => {
    const damage = fc.oneof(
      fc.record({kind: fc.constant('byte' as const), at: fc.nat(), value: fc.oneof(fc.integer({min: 0, max: 255}), fc.constantFrom(10, 32, 45, 62, 61, 43, 47, 65))}),
      fc.record({kind: fc.constantFrom('drop-line' as const, 'repeat-line' as const, 'space' as const, 'split' as const, 'join' as const, 'cut' as const), at: fc.nat()}),
    )
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(damage, {minLength: 1, maxLength: 3}), async (which, changes) => {
        let h = Buffer.from(headers[which % headers.length]!)
        for (const c of changes) {
          const at = c.at % Math.max(h.length, 1)
          const lines = h.toString('latin1').split('\n')
          const line = c.at % lines.length
          switch (c.kind) {
            case 'byte':
              h = Buffer.concat([h.subarray(0, at), Buffer.from([c.value]), h.subarray(at + 1)])
              break
            case 'drop-line':
              lines.splice(line, 1)
              h = Buffer.from(lines.join('\n'), 'latin1')
              break
            case 'repeat-line':
              lines.splice(line, 0, lines[line]!)
              h = Buffer.from(lines.join('\n'), 'latin1')
              break
            case 'space':
              h = Buffer.concat([h.subarray(0, at), Buffer.from(' '), h.subarray(at)])
              break
            case 'split':
              h = Buffer.concat([h.subarray(0, at), Buffer.from('\n'), h.subarray(at)])
              break
            case 'join':
              lines.splice(line, 2, (lines[line] ?? '') + (lines[line + 1] ?? ''))
              h = Buffer.from(lines.join('\n'), 'latin1')
              break
            case 'cut':
              h = h.subarray(0, at)
              break
          }
        }
        const fast = plainHeaderStanzas(h)
        if (fast === undefined) return
        const reference = await libraryStanzas(h)
        expect(reference, `the library refuses a header the fast reader accepts:\n${h.toString('latin1')}`).toBeDefined()
        expect(same(fast, reference!), h.toString('latin1')).toBe(true)
      }),
      {numRuns: RUNS},
    )
  })
})
