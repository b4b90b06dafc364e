import {spawn} from 'node:child_process'
import {describe, expect, it} from 'vitest'
import {ROOT} from '../support/cli.js'
import {recordOutput} from '../support/leaks.js'

describe('the demo (README command one, after its build step)', () => {
  it('runs validate → plan → apply → plan → unseal and proves the sealed keys authenticate', async () => {
    const child = spawn(process.execPath, ['bin/run.js', 'demo'], {cwd: ROOT, env: {...process.env, NO_COLOR: '1'}})
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const code = await new Promise((resolve) => child.on('close', resolve))
    recordOutput('demo (stdout and stderr)', out)
    expect(code, out).toBe(0)
    expect(out).toContain('Demo done')
    expect(out).toMatch(/alice@example\.com\/ci-deploy \(uid \w+\): authenticates as alice@example\.com/)
    expect(out).toMatch(/bob@example\.com\/monitoring \(uid \w+\): authenticates as bob@example\.com/)
    expect(out).not.toContain('demo-admin-key-0001')
  })
})
