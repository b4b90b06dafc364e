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
  it('GitHub: the action installs a hash-checked tarball with --ignore-scripts; its Palette key input reaches only the steps that run palette-keys; apply in its protected environment', async () => {
    const text = await readFile(join(ROOT, 'examples/ci/github/palette-keys.yml'), 'utf8')
    const wf = parse(text) as {env?: Record<string, string>; jobs: Record<string, {environment?: string; steps: Array<{uses?: string; with?: Record<string, string>}>}>}
    expect(wf.jobs.apply!.environment).toBe('palette-keys')
    expect(wf.env?.PALETTE_API_KEY).toBeUndefined()
    expect(text).not.toMatch(/npm install[^\n]*palette-keys@/)
    // The workflow hands the secret to the palette-keys action only.
    for (const [name, j] of Object.entries(wf.jobs)) {
      for (const s of j.steps) {
        // The admin key only where apply runs (an environment secret); plan and audit read with a read-only key for its apply.
        if (s.uses?.startsWith('palette-keys/palette-keys@')) {
          expect(s.with?.['palette-api-key'], name).toBe(name === 'apply' ? '${{ secrets.PALETTE_API_KEY }}' : '${{ secrets.PALETTE_PLAN_API_KEY }}')
          expect(s.with?.['apply-as'], name).toBe(name === 'apply' ? undefined : '${{ vars.PALETTE_KEYS_APPLY_AS }}')
        }
        else expect(JSON.stringify(s), `${name}: ${s.uses}`).not.toContain('PALETTE_API_KEY')
      }
    }
    const action = parse(await readFile(join(ROOT, 'action.yml'), 'utf8')) as {runs: {steps: Array<{name?: string; run?: string; env?: Record<string, string>}>}}
    for (const s of action.runs.steps) {
      if (!s.run) {
        expect(JSON.stringify(s), `${s.name}`).not.toContain('palette-api-key')
        continue
      }
      if (/npm (install|ci)/.test(s.run)) {
        expect(s.run, `${s.name}`).toMatch(/sha256sum -c -/)
        expect(s.run).toMatch(/npm ci --prefix "\$RUNNER_TEMP\/palette-keys" --omit=dev --ignore-scripts/)
        expect(s.env?.PALETTE_API_KEY, 'the install sees no Palette key').toBeUndefined()
      } else if (/^\s*palette-keys (plan|apply|audit|export|show)\b/m.test(s.run)) {
        expect(s.env?.PALETTE_API_KEY, `${s.name} gets the key`).toBe('${{ inputs.palette-api-key }}')
      } else {
        expect(s.env?.PALETTE_API_KEY, `${s.name} does not need the key`).toBeUndefined()
      }
    }
  })

  it('GitLab: the example includes the template pinned by its SHA-256; the template installs a hash-checked tarball with --ignore-scripts; the key and the token leave the environment before anything runs, and only palette-keys, the API scripts and git\'s push get one', async () => {
    const example = parse(await readFile(join(ROOT, 'examples/ci/gitlab/.gitlab-ci.yml'), 'utf8')) as {include: Array<{remote: string; integrity: string}>}
    expect(example.include).toHaveLength(1)
    expect(example.include[0]!.integrity).toMatch(/^sha256-[A-Za-z0-9+/]{43}=$/)
    const text = await readFile(join(ROOT, 'templates/palette-keys.gitlab-ci.yml'), 'utf8')
    const template = parse(text) as {default?: unknown; '.palette-keys': {before_script: string[]}}
    // A template must not change the including pipeline's defaults.
    expect(template.default).toBeUndefined()
    expect(text).not.toMatch(/npm install[^\n]*palette-keys@/)
    const [first, ...install] = template['.palette-keys'].before_script
    expect(first).toMatch(/unset PALETTE_API_KEY PALETTE_PLAN_API_KEY GITLAB_API_TOKEN$/)
    expect((template as unknown as Record<string, {environment?: string}>)['palette-keys-apply']!.environment).toBe('palette-keys')
    expect(install.join('\n')).toMatch(/sha256sum -c -/)
    expect(install.join('\n')).toMatch(/npm ci --prefix \/tmp\/palette-keys --omit=dev --ignore-scripts/)
    // The admin key (scoped to the apply job's environment) only for apply; the read-only key for plan and audit.
    const uses = [...text.matchAll(/PALETTE_API_KEY="\$(palette_key|plan_key)" (\S+ \S+)/g)].map((m) => `${m[1]}: ${m[2]}`).sort()
    expect(uses).toEqual(['palette_key: palette-keys apply', 'palette_key: palette-keys apply', 'plan_key: palette-keys audit', 'plan_key: palette-keys plan'])
    for (const m of text.matchAll(/GITLAB_API_TOKEN="\$gitlab_token" (\S+)/g)) expect(['node', 'git']).toContain(m[1])
  })
})
