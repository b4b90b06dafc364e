import {Command} from '@oclif/core/command'
import * as Errors from '@oclif/core/errors'
import {formatDiagnostic, PaletteKeysError} from '../util/errors.js'
import {inertLines} from '../render/inert.js'
import {scrub, scrubStandardStreams} from '../util/scrub.js'
import {ExitCode} from '../util/exit-codes.js'
import {suggestion} from './suggest.js'
import {registerEnvironmentSecrets} from '../palette/connection.js'

/** The JSON shape of a failure under --json. */
export interface ErrorResult {
  error: {code: string; message: string; exitCode: number; hints: string[]; diagnostics: PaletteKeysError['diagnostics']}
}

/**
 * Shared behaviour of every command: every byte it writes to stdout and stderr passes the
 * scrubber (util/scrub.ts); one place turns an error into output and an exit code (PaletteKeysError carries its own; anything else is a bug and exits 1).
 */
export abstract class BaseCommand extends Command {
  override async init(): Promise<void> {
    scrubStandardStreams()
    // Before the flags are parsed: a usage error quotes argv, which may hold the key.
    registerEnvironmentSecrets()
    await super.init()
  }

  protected override async catch(err: Error & {oclif?: {exit?: number}; parse?: unknown}): Promise<unknown> {
    // oclif's parse errors (unknown flag, bad or missing value, extra argument) are usage
    // errors: exit 64, and under --json one error document with the message, never oclif's
    // internals (some carry no remapped code of their own and would exit 1).
    if (!(err instanceof PaletteKeysError) && (err.parse !== undefined || err.oclif?.exit !== undefined)) {
      const near = this.nearFlags(err)
      if (near) err.message = `${err.message.split('\n')[0]}\nDid you mean ${near}?${err.message.includes('\n') ? `\n${err.message.split('\n').slice(1).join('\n')}` : ''}`
      if (!this.jsonEnabled()) {
        if (err.oclif) err.oclif.exit = ExitCode.Usage
        return super.catch(err)
      }
      const message = (err.message || 'invalid arguments').split('\n')[0]!.trim()
      const result: ErrorResult = {error: {code: 'usage', message, exitCode: ExitCode.Usage, hints: [...(near ? [`Did you mean ${near}?`] : []), `palette-keys ${this.id ?? ''} --help`.replace(/ +/g, ' ')], diagnostics: []}}
      this.logJson(result)
      throw new Errors.ExitError(ExitCode.Usage)
    }
    const known = err instanceof PaletteKeysError
    const exitCode = known ? err.exitCode : ExitCode.Error
    const message = this.scrub(known ? err.message : `Unexpected error: ${err.message}`)
    if (this.jsonEnabled()) {
      const result: ErrorResult = {
        error: {
          code: known ? err.code : 'internal',
          message,
          exitCode,
          hints: known ? err.hints.map((h) => this.scrub(h)) : [],
          diagnostics: known ? err.diagnostics : [],
        },
      }
      this.logJson(result)
    } else {
      // A message may quote a server's words or a live name: each line is made inert for the terminal.
      const lines = [`Error: ${inertLines(message)}`]
      if (known) {
        for (const d of err.diagnostics) lines.push(`  ${inertLines(this.scrub(formatDiagnostic(d)))}`)
        if (err.hints.length > 0) lines.push('Try this:', ...err.hints.map((h) => `  - ${inertLines(this.scrub(h))}`))
      }
      process.stderr.write(lines.join('\n') + '\n')
    }
    throw new Errors.ExitError(exitCode)
  }

  /** "--force" for `--forse`: the nearest flag of this command to each nonexistent one, if near enough to be a typo. */
  private nearFlags(err: Error & {flags?: unknown}): string | undefined {
    // oclif's NonExistentFlagsError (not exported) carries the typed flags.
    if (!Array.isArray(err.flags) || !err.message.startsWith('Nonexistent flag')) return undefined
    const own = Object.entries(this.ctor.flags ?? {}).filter(([, f]) => !f.hidden).flatMap(([name, f]) => [name, ...(f.aliases ?? [])])
    const near = (err.flags as string[]).flatMap((typed) => {
      const name = typed.replace(/^-+/, '').split('=')[0]!
      const guess = suggestion(name, own)
      return guess ? [`--${guess}`] : []
    })
    return near.length > 0 ? [...new Set(near)].join(', ') : undefined
  }

  protected scrub(text: string): string {
    return scrub(text)
  }

  /** A warning or report on stderr that may quote untrusted text (a plan's fields, a file name, a server's words): scrubbed and inert. */
  protected logInert(text: string): void {
    this.logToStderr(inertLines(scrub(text)))
  }
}
