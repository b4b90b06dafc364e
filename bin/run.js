#!/usr/bin/env node
import {readFileSync} from 'node:fs'
import {arch, platform, release} from 'node:os'

// `palette-keys --version` (or -v) alone is answered before oclif loads, as importing oclif takes
// as long as Node's own start-up: the very line oclif prints, its user agent
// (`NAME/VERSION PLATFORM-ARCH node-VERSION`; test/e2e/cli-habits.test.ts compares the two). Where
// oclif could say `wsl` (Linux under Windows), and for anything else, oclif answers.
const args = process.argv.slice(2)
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v') && !maybeWsl()) {
  const pjson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(`${pjson.name}/${pjson.version} ${platform()}-${arch() === 'ia32' ? 'x86' : arch()} node-${process.version}\n`)
} else {
  const {execute} = await import('@oclif/core/execute')
  await execute({dir: import.meta.url})
}

/** Whether this may be Windows' Linux, which oclif names `wsl` (it also asks whether it runs in a container). */
function maybeWsl() {
  if (platform() !== 'linux') return false
  if (release().toLowerCase().includes('microsoft')) return true
  try {
    return readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')
  } catch {
    return false
  }
}
