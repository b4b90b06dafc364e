import {mkdirSync, writeFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {findLeaks, type Leak, readOutputs, sha256} from '../support/leaks.js'

/**
 * Runs after every other suite (vitest.config.ts: sequence.groupOrder). Reads everything the
 * suites recorded and fails on any API key value in it. See test/support/leaks.ts.
 */
describe('leak scan over every output of every suite', () => {
  it('finds no key value, seeded or issued, in any recorded output', () => {
    const {entries, known, lengths} = readOutputs()
    // A scan of nothing proves nothing: the suites must have recorded outputs and values.
    expect(entries.length, 'no outputs were recorded (run the suites before the scan)').toBeGreaterThan(0)
    expect(known.size, 'no key values were registered').toBeGreaterThan(0)
    const leaks: Leak[] = entries.flatMap((e) => findLeaks(e, known, lengths))
    const bytes = entries.reduce((n, e) => n + Buffer.byteLength(e.text), 0)
    const sources = new Set(entries.map((e) => e.source.split(' ')[0]))
    console.log(`leak scan: ${entries.length} outputs (${(bytes / 1e6).toFixed(1)} MB; ${[...sources].sort().join(', ')}), ${known.size} known key values, ${leaks.length} leaks`)
    // For the README's generated figures (npm run figures): counts only, never a value.
    mkdirSync('reports', {recursive: true})
    writeFileSync('reports/leak-scan.json', `${JSON.stringify({outputs: entries.length, bytes, known: known.size, leaks: leaks.length, at: new Date().toISOString()})}\n`)
    expect(leaks.map((l) => `${l.what} in ${l.source} at ${l.line}:${l.column}${l.test ? ` (test: ${l.test})` : ''}`)).toEqual([])
  })
})

describe('the leak scanner itself', () => {
  const value = 'Zk3yVALUEzk3yVALUEzk3yVALUEzk3yVALUEzk3yVAL' // 43 characters: the issued shape
  const seeded = 'test-admin-key-000001'
  const known = new Map([[sha256(seeded), 'seeded (test)']])
  const lengths = [seeded.length]

  it('finds a known value as a whole token, glued to a prefix or suffix, and reports where, never what', () => {
    const text = `line one\nApiKey: ${seeded}\nx${seeded}\n${seeded}y and "${seeded}"`
    const leaks = findLeaks({source: 'cli x', text}, known, lengths)
    expect(leaks.map((l) => [l.line, l.column])).toEqual([[2, 9], [3, 2], [4, 1], [4, 29]])
    for (const l of leaks) expect(JSON.stringify(l)).not.toContain(seeded)
  })

  it('finds a token shaped like an issued value even when nobody registered it', () => {
    const leaks = findLeaks({source: 'emulator process', text: `{"apiKey":"${value}"}`}, new Map(), [])
    expect(leaks).toHaveLength(1)
    expect(leaks[0]!.what).toMatch(/shaped like an issued key value/)
    expect(JSON.stringify(leaks)).not.toContain(value)
  })

  it('lets pass what is not a value: uids, fingerprints, recipients, other tokens', () => {
    const text = [
      'uid 66e844c44bab2337f20c7471',
      `fingerprint ${sha256('x')}`,
      'age1kdnug0g69q26qvlaysykz582z2lucrrewkjdyhwmnyucrm6f2fyqangs4c',
      'test-admin-key-00000', // one character short of the seeded value
      `${value}x`, // 44 characters: not the issued shape
    ].join('\n')
    expect(findLeaks({source: 'file plan.json', text}, known, lengths)).toEqual([])
  })
})
