import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {connect} from '../cli/connect.js'
import {ExitCode} from '../util/exit-codes.js'
import {connectionFlags} from '../cli/flags.js'
import {parseDesiredState} from '../config/desired-state.js'
import {exportTenant} from '../export/export.js'
import {readLiveState} from '../live/snapshot.js'
import {MAX_YAML_BYTES} from '../yaml/load.js'
import {writeFileAtomic} from '../util/atomic-write.js'
import {scrub} from '../util/scrub.js'
import {prepareOutput, umaskMode} from '../util/output-file.js'
import {PaletteKeysError} from '../util/errors.js'

export interface ExportCommandResult {
  file: string | null
  users: number
  keys: number
  omitted: Array<{address: string; uid: string; why: string}>
}

export default class Export extends BaseCommand {
  static override summary = 'Write a desired-state file from the live tenant: the way to adopt a tenant that already has keys.'

  static override description = `Declares every live key of the chosen users (all users with keys by default) with its name, description, expiry and active state, a comment per key with its uid, creation date and whether palette-keys manages it. Keys palette-keys did not create get \`adopt: true\`, so \`plan\` on the exported file right away shows only those adoptions (and nothing at all once applied).
Expiry is written as each key's lifetime (creation to expiry; the most common one as \`defaults.expiresIn\`), not as a date: a fixed \`expiresAt\` is never rotated, so a re-exported file would freeze the tenant. \`--pin-expiry\` writes the dates.
The keys of the user the export runs as are written commented out, with the reason: one of them is the key palette-keys runs with, and an apply that rotated or revoked it would lock CI out. \`--user\` naming that user declares them.
Keys left by an interrupted apply, rotated-out keys, the second of two same-named keys and expired hand-made keys are not declared; a comment at the end lists them.`

  static override examples = [
    {description: 'Every user with keys, to a file', command: '<%= config.bin %> <%= command.id %> -o keys.yaml'},
    {description: 'Two users, to stdout', command: '<%= config.bin %> <%= command.id %> --user alice@example.com --user bob@example.com'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...connectionFlags,
    user: Flags.string({description: 'Export this user (e-mail); repeat for several. Default: every user with keys.', multiple: true}),
    output: Flags.string({char: 'o', description: 'Write to this file instead of stdout.'}),
    force: Flags.boolean({description: 'Overwrite an existing output file.', default: false}),
    'pin-expiry': Flags.boolean({description: 'Write each key\'s expiry date (expiresAt). A fixed date is never rotated, so by default each key\'s lifetime is written instead (the most common one as defaults.expiresIn).', default: false}),
    comments: Flags.boolean({description: 'Write a comment above each key (uid, creation date, ownership); --no-comments leaves them out (a file to keep parses faster without).', default: true, allowNo: true}),
  }

  async run(): Promise<ExportCommandResult> {
    const {flags} = await this.parse(Export)
    if (flags.output) await prepareOutput(flags.output, {flag: '-o', overwrite: () => flags.force, hint: 'Pass --force, or choose another file.'})
    const now = new Date()
    const {client, host} = await connect(flags)
    try {
      const live = await readLiveState(client, host, {declaredEmails: flags.user ?? []})
      const known = new Set(live.users.map((u) => u.email.toLowerCase()))
      const unknown = (flags.user ?? []).filter((e) => !known.has(e.toLowerCase()))
      if (unknown.length > 0) {
        throw new PaletteKeysError(`Not users of tenant ${live.tenant.orgName || live.tenant.uid}: ${unknown.join(', ')}`, {code: 'unknown-users', exitCode: ExitCode.Error})
      }
      // Users holding a key, through a set: a scan of every key per user was 59 s of a 64 s export of 100,000 keys.
      const owners = new Set(live.keys.map((k) => k.userUid))
      const emails = flags.user ?? live.users.filter((u) => owners.has(u.uid)).map((u) => u.email)
      // The caller's keys are declared only when the operator names that user: one of them is the key this run uses.
      const includeCaller = live.caller.email !== '' && (flags.user ?? []).some((e) => e.toLowerCase() === live.caller.email.toLowerCase())
      const result = exportTenant(live, emails, now, {comments: flags.comments, pinExpiry: flags['pin-expiry'], includeCaller, toolVersion: this.config.version})
      // A file no command could read is refused before it is parsed (the parse of a file that size is the longest step).
      const bytes = Buffer.byteLength(result.yaml, 'utf8')
      if (bytes > MAX_YAML_BYTES) {
        throw new PaletteKeysError(`The export of ${result.keys} keys of ${result.users} users is ${(bytes / 1048576).toFixed(1)} MiB, more than the ${MAX_YAML_BYTES / 1048576} MiB a desired-state file may be: nothing was written.`, {code: 'export-too-large', exitCode: ExitCode.Error, hints: ['Export some users at a time (--user EMAIL, repeatable) into files of their own, or drop the comments (--no-comments).']})
      }
      // What we write must be a valid file: check it as `validate` would.
      parseDesiredState(result.yaml, flags.output ?? 'export', now)
      if (flags.output) {
        await writeFileAtomic(flags.output, scrub(result.yaml), umaskMode())
        this.logToStderr(`Exported ${result.keys} key${result.keys === 1 ? '' : 's'} of ${result.users} user${result.users === 1 ? '' : 's'} to ${flags.output}${result.omitted.length > 0 ? ` (${result.omitted.length} not declared: see the comment at its end)` : ''}.`)
      } else if (!this.jsonEnabled()) process.stdout.write(result.yaml)
      return {file: flags.output ?? null, users: result.users, keys: result.keys, omitted: result.omitted}
    } finally {
      await client.close()
    }
  }
}
