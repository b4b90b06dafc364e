import type {Hook} from '@oclif/core/hooks'
import {ExitCode} from '../util/exit-codes.js'
import {registerEnvironmentSecrets} from '../palette/connection.js'
import {scrubStandardStreams} from '../util/scrub.js'
import {suggestion} from '../cli/suggest.js'

/**
 * An unknown command, or an extra argument (oclif reads `validate extra` as the command
 * `validate:extra`), is a usage error: exit 64, and under --json the error document of
 * schemas/error.schema.json instead of oclif's plain "command not found". A near miss gets a
 * "Did you mean" hint (as @oclif/plugin-not-found gives, but never a prompt that runs the
 * guess: `aply` is not consent to `apply`).
 */
const hook: Hook<'command_not_found'> = async function (opts) {
  // The "command" may be a pasted key: what is printed below quotes it.
  scrubStandardStreams()
  registerEnvironmentSecrets()
  const parts = opts.id.split(':')
  const known = opts.config.findCommand(parts[0]!) ? parts[0] : undefined
  const message = known ? `${known} takes no argument "${parts.slice(1).join(' ')}"` : `Unknown command "${parts.join(' ')}"`
  const commands = opts.config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases])
  const near = known ? undefined : suggestion(parts[0]!, commands)
  const hints = known ? [`palette-keys ${known} --help`] : [...(near ? [`Did you mean "palette-keys ${near}"?`] : []), 'palette-keys --help lists the commands']
  if ((opts.argv ?? []).includes('--json') || process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({error: {code: 'usage', message, exitCode: ExitCode.Usage, hints, diagnostics: []}}, null, 2) + '\n')
  } else {
    process.stderr.write(`Error: ${message}\nTry this:\n${hints.map((h) => `  - ${h}\n`).join('')}`)
  }
  process.exit(ExitCode.Usage)
}

export default hook
