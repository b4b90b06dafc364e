import {readFile, writeFile} from 'node:fs/promises'
import {join, relative} from 'node:path'
import {expect} from 'vitest'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {ROOT, runCli} from './cli.js'
import type {GitHost} from './git-host.js'

/** The demo tenant's admin key: CI's apply key in the example suites. */
export const CI_ADMIN = 'demo-admin-key-0001'
/** A Tenant Viewer's key, added to the demo tenant: the plan and audit jobs' least-privilege key (plan --apply-as). */
export const CI_VIEWER = 'demo-viewer-key-0001'
/** The sticky comment's (or note's) hidden first line. */
export const PLAN_MARKER = '<!-- palette-keys:plan -->'

/** The example suites' inputs: the demo tenant with the viewer added (its seed), and examples/keys.yaml. */
export async function ciInputs(): Promise<{seed: string; keysYaml: string}> {
  const viewer = `  - email: viewer@example.com
    lastSignIn: 2026-11-20T09:00:00Z
    roles: [Tenant Viewer]           # lists every key, changes none: the CI's plan and audit key
    apiKeys:
      - {name: ci-plan, value: ${CI_VIEWER}, expiry: 2099-01-01T00:00:00Z}
`
  return {
    seed: `${(await readFile(join(ROOT, 'examples/tenant.yaml'), 'utf8')).trimEnd()}\n${viewer}`,
    keysYaml: await readFile(join(ROOT, 'examples/keys.yaml'), 'utf8'),
  }
}

/**
 * What the CI example suites (github-workflow, gitlab-pipeline) do to a team's repository and
 * ask of it: examples/keys.yaml with a chosen custodyGrace, an edit of keys.yaml, the sealed files
 * of a checkout, and a plan of main as a teammate would run it.
 */
export const keysFile = (keysYaml: string, grace = '1h') => async (dir: string): Promise<void> => {
  await writeFile(join(dir, 'keys.yaml'), keysYaml.replace('custodyGrace: 1h', `custodyGrace: ${grace}`))
}

export const edit = (from: string, to: string) => async (dir: string): Promise<void> => {
  const file = join(dir, 'keys.yaml')
  const text = await readFile(file, 'utf8')
  expect(text).toContain(from)
  await writeFile(file, text.replace(from, to))
}

/** The sealed files of a checkout, relative to its seal folder, sorted. */
export const sealedOn = async (dir: string): Promise<string[]> => (await listSealedFiles(join(dir, 'sealed'))).map((f) => relative(join(dir, 'sealed'), f)).sort()

/** `plan --json --detailed-exitcode` on a fresh checkout of main (exit 0 or 2 expected). */
export async function planOnMain(host: GitHost, env: NodeJS.ProcessEnv): Promise<{code: number | null; json: {actions: Array<{kind: string; address: string; cause?: string}>}}> {
  const dir = await host.runner()
  const r = await runCli(['plan', '--json', '--detailed-exitcode'], {cwd: dir, env})
  expect([0, 2], r.stderr).toContain(r.code)
  return {code: r.code, json: JSON.parse(r.stdout)}
}
