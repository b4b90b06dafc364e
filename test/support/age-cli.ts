import {execFileSync} from 'node:child_process'

/** Whether Debian's reference `age` CLI is installed. In CI its absence is a failure, not a skip. */
export function haveAgeCli(): boolean {
  try {
    execFileSync('age', ['--version'], {stdio: 'ignore'})
    execFileSync('age-keygen', ['--help'], {stdio: 'ignore'})
    return true
  } catch (error) {
    // age-keygen --help exits non-zero on some versions; only a missing binary counts.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      if (process.env.CI) throw new Error('Debian\'s age CLI is missing: .ci/run must install it (apt-get install age)')
      return false
    }
    return true
  }
}

/** Whether Debian's ssh-keygen (openssh-client) is installed. In CI its absence is a failure, not a skip. */
export function haveSshKeygen(): boolean {
  try {
    execFileSync('ssh-keygen', ['-?'], {stdio: 'ignore'})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      if (process.env.CI) throw new Error('Debian\'s ssh-keygen is missing: .ci/run must install it (apt-get install openssh-client)')
      return false
    }
  }
  return true
}
