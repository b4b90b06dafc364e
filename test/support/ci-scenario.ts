import {readFile, writeFile} from 'node:fs/promises'
import {join, relative} from 'node:path'
import {expect} from 'vitest'
import {listSealedFiles} from '../../src/seal/seal-dir.js'
import {runCli} from './cli.js'
import type {GitHost} from './git-host.js'

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
