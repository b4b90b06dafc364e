import {execFile} from 'node:child_process'
import {chmod, rm, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {promisify} from 'node:util'

/**
 * A repository host for the CI tests: a bare origin on disk, teammates who clone, edit and push,
 * and runners that check out as the CI services do (a push: a shallow clone of main; a pull
 * request: the merge of its branch into main, GitHub's refs/pull/N/merge).
 */
export const git = promisify(execFile)
const AS = ['-c', 'user.name=teammate', '-c', 'user.email=teammate@example.invalid']

export interface GitHost {
  origin: string
  /** Lands a commit on main as a teammate would (a clone, an edit, a push); its sha. */
  land(edit: (dir: string) => Promise<void>, message: string): Promise<string>
  /** A teammate's branch off main with one commit; the branch head's sha. */
  branch(name: string, edit: (dir: string) => Promise<void>, message: string): Promise<string>
  /** Merges a branch into main (a merge commit, as a pull request's merge button makes); its sha. */
  merge(name: string): Promise<string>
  /** A push runner: a shallow clone of main (at its head, or at `sha` when main moved on since). */
  runner(sha?: string): Promise<string>
  /** A GitLab runner's checkout: a clone at `sha`, detached (as GitLab checks out every pipeline). */
  detached(sha: string): Promise<string>
  /** A pull request runner: main with the branch merged in, detached (refs/pull/N/merge); the folder and that commit's sha. */
  prRunner(name: string): Promise<{dir: string; sha: string}>
  /** Branch protection: origin refuses pushes to main (`'main'`), to every ref (`'all'`), or none (`false`). */
  protect(what: 'main' | 'all' | false): Promise<void>
  /** The sha a ref has on origin ('' when it does not exist). */
  head(ref: string): Promise<string>
}

export async function gitHost(work: string, name: string): Promise<GitHost> {
  const origin = join(work, `${name}.git`)
  await git('git', ['init', '-q', '--bare', '-b', 'main', origin])
  let n = 0
  const clone = async (label: string): Promise<string> => {
    const dir = join(work, `${name}-${label}-${++n}`)
    const {stdout} = await git('git', ['ls-remote', origin, 'refs/heads/main'])
    if (stdout.trim()) await git('git', ['clone', '-q', `file://${origin}`, dir])
    else {
      await git('git', ['init', '-q', '-b', 'main', dir])
      await git('git', ['remote', 'add', 'origin', `file://${origin}`], {cwd: dir})
    }
    return dir
  }
  const commit = async (dir: string, edit: (dir: string) => Promise<void>, message: string) => {
    await edit(dir)
    await git('git', ['add', '-A'], {cwd: dir})
    await git('git', [...AS, 'commit', '-q', '-m', message], {cwd: dir})
    return (await git('git', ['rev-parse', 'HEAD'], {cwd: dir})).stdout.trim()
  }
  const host: GitHost = {
    origin,
    async land(edit, message) {
      const dir = await clone('teammate')
      const sha = await commit(dir, edit, message)
      await git('git', ['push', '-q', 'origin', 'HEAD:main'], {cwd: dir})
      return sha
    },
    async branch(branch, edit, message) {
      const dir = await clone('teammate')
      await git('git', ['checkout', '-q', '-b', branch], {cwd: dir})
      const sha = await commit(dir, edit, message)
      await git('git', ['push', '-q', 'origin', `HEAD:refs/heads/${branch}`], {cwd: dir})
      return sha
    },
    async merge(branch) {
      const dir = await clone('merger')
      await git('git', ['fetch', '-q', 'origin', branch], {cwd: dir})
      await git('git', [...AS, 'merge', '-q', '--no-ff', '-m', `Merge branch ${branch}`, 'FETCH_HEAD'], {cwd: dir})
      await git('git', ['push', '-q', 'origin', 'HEAD:main'], {cwd: dir})
      return (await git('git', ['rev-parse', 'HEAD'], {cwd: dir})).stdout.trim()
    },
    async runner(sha) {
      const dir = join(work, `${name}-runner-${++n}`)
      await git('git', ['clone', '-q', '--depth', sha ? '50' : '1', '--branch', 'main', `file://${origin}`, dir])
      if (sha) await git('git', ['checkout', '-q', '-B', 'main', sha], {cwd: dir})
      return dir
    },
    async detached(sha) {
      const dir = await clone('gitlab-runner')
      await git('git', ['fetch', '-q', 'origin', sha], {cwd: dir})
      await git('git', ['checkout', '-q', '--detach', sha], {cwd: dir})
      return dir
    },
    async prRunner(branch) {
      const dir = await clone('pr-runner')
      await git('git', ['fetch', '-q', 'origin', branch], {cwd: dir})
      await git('git', [...AS, 'merge', '-q', '--no-ff', '-m', `Merge ${branch} into main`, 'FETCH_HEAD'], {cwd: dir})
      const sha = (await git('git', ['rev-parse', 'HEAD'], {cwd: dir})).stdout.trim()
      await git('git', ['checkout', '-q', '--detach', sha], {cwd: dir})
      return {dir, sha}
    },
    async protect(what) {
      const hook = join(origin, 'hooks', 'pre-receive')
      if (what === false) return rm(hook, {force: true})
      const refuse = what === 'all' ? 'true' : '[ "$ref" = refs/heads/main ]'
      await writeFile(hook, `#!/bin/sh\nwhile read old new ref; do\n  if ${refuse}; then echo "GH006: Protected branch update failed for $ref." >&2; exit 1; fi\ndone\nexit 0\n`)
      await chmod(hook, 0o755)
    },
    async head(ref) {
      const {stdout} = await git('git', ['ls-remote', origin, ref])
      return stdout.split(/\s/)[0] ?? ''
    },
  }
  return host
}
