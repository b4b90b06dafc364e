import {readFile} from 'node:fs/promises'
import {join} from 'node:path'
import {parse} from 'yaml'
import {describe, expect, it} from 'vitest'
import {ROOT} from '../support/cli.js'

/**
 * What the CI examples install and who holds the secrets, read from the files. Their jobs are
 * run as written by test/e2e/github-workflow.test.ts and test/e2e/gitlab-pipeline.test.ts.
 */

describe('the CI examples install nothing by a name nobody owns, and keep the key from the install', () => {
  it('GitHub: a hash-checked tarball with --ignore-scripts; PALETTE_API_KEY only on the steps that run palette-keys; apply in its protected environment', async () => {
    const text = await readFile(join(ROOT, 'examples/ci/github/palette-keys.yml'), 'utf8')
    const wf = parse(text) as {env: Record<string, string>; jobs: Record<string, {environment?: string; steps: Array<{name?: string; run?: string; env?: Record<string, string>}>}>}
    expect(wf.jobs.apply!.environment).toBe('palette-keys')
    expect(wf.env.PALETTE_API_KEY).toBeUndefined()
    expect(text).not.toMatch(/npm install[^\n]*palette-keys@/)
    for (const [name, j] of Object.entries(wf.jobs)) {
      for (const s of j.steps) {
        if (!s.run) continue
        if (/npm (install|ci)/.test(s.run)) {
          expect(s.run, `${name}: ${s.name}`).toMatch(/sha256sum -c -/)
          expect(s.run).toMatch(/npm ci --prefix "\$RUNNER_TEMP\/palette-keys" --omit=dev --ignore-scripts/)
          expect(s.env?.PALETTE_API_KEY, `${name}: the install sees no Palette key`).toBeUndefined()
        } else if (/^\s*palette-keys (plan|apply|audit|export|show)\b/m.test(s.run)) {
          expect(s.env?.PALETTE_API_KEY, `${name}: ${s.name} gets the key`).toBe('${{ secrets.PALETTE_API_KEY }}')
        } else {
          expect(s.env?.PALETTE_API_KEY, `${name}: ${s.name} does not need the key`).toBeUndefined()
        }
      }
    }
  })

  it('GitLab: a hash-checked tarball with --ignore-scripts; the key and the token leave the environment before anything runs, and only palette-keys, the API scripts and git\'s push get one', async () => {
    const text = await readFile(join(ROOT, 'examples/ci/gitlab/.gitlab-ci.yml'), 'utf8')
    const pipeline = parse(text) as {default: {before_script: string[]}}
    expect(text).not.toMatch(/npm install[^\n]*palette-keys@/)
    const [first, ...install] = pipeline.default.before_script
    expect(first).toMatch(/unset PALETTE_API_KEY GITLAB_API_TOKEN$/)
    expect(install.join('\n')).toMatch(/sha256sum -c -/)
    expect(install.join('\n')).toMatch(/npm ci --prefix \/tmp\/palette-keys --omit=dev --ignore-scripts/)
    for (const m of text.matchAll(/PALETTE_API_KEY="\$palette_key" (\S+ \S+)/g)) expect(m[1]).toMatch(/^palette-keys (plan|apply|audit)$/)
    for (const m of text.matchAll(/GITLAB_API_TOKEN="\$gitlab_token" (\S+)/g)) expect(['node', 'git']).toContain(m[1])
  })
})
