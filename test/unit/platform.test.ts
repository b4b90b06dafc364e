import {describe, expect, it} from 'vitest'
import {applyPlatformProblem} from '../../src/cli/platform.js'

describe('platforms', () => {
  it('apply refuses Windows (64) with a clear message; POSIX platforms are fine', () => {
    expect(applyPlatformProblem('win32')).toMatchObject({exitCode: 64, code: 'unsupported-platform'})
    expect(applyPlatformProblem('win32')?.message).toMatch(/not supported on Windows/)
    for (const p of ['linux', 'darwin', 'freebsd'] as const) expect(applyPlatformProblem(p)).toBeUndefined()
  })
})
