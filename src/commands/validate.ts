import {dirname, relative, resolve} from 'node:path'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {fileFlag} from '../cli/flags.js'
import {checkRecipientsSealable, loadDesiredStateFile} from '../config/desired-state.js'
import {annotation, diagnosticAnnotations} from '../render/github.js'
import {PaletteKeysError} from '../util/errors.js'

export interface ValidateResult {
  valid: true
  /** The seal folder the file names, as a path from the current directory (CI's commit-back adds it). */
  sealDir: string
  file: string
  users: number
  keys: number
}

export default class Validate extends BaseCommand {
  static override summary = 'Check a desired-state file offline: schema, semantics, every problem at once.'

  static override description = `Reads the file with positions and reports every problem as file:line:col with a stable code and a hint, and seals a few bytes to each recipient (a recipient nothing can be sealed to is an error). Talks to no API. Warns when seal.recipients is empty.
With --format github, each problem is also printed to stdout as a GitHub Actions annotation (\`::error file=…,line=…,col=…::…\`), which the pull request shows on the line.
Exit 0 when the file is valid, 65 when it is not (64 when it cannot be read).`

  static override examples = [
    {description: 'Check keys.yaml (the default)', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Check another file, diagnostics as JSON', command: '<%= config.bin %> <%= command.id %> -f examples/keys.yaml --json'},
    {description: 'In a GitHub workflow: problems as annotations on the pull request', command: '<%= config.bin %> <%= command.id %> -f keys.yaml --format github'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...fileFlag,
    format: Flags.string({description: 'Output format: text, or github (problems also as workflow annotations on stdout).', options: ['text', 'github'], default: 'text'}),
  }

  async run(): Promise<ValidateResult> {
    const {flags} = await this.parse(Validate)
    const github = flags.format === 'github' && !this.jsonEnabled()
    let desired
    try {
      desired = await loadDesiredStateFile(flags.file, new Date())
      await checkRecipientsSealable(desired)
    } catch (error) {
      if (github && error instanceof PaletteKeysError) {
        const lines = error.diagnostics.length > 0 ? diagnosticAnnotations(error.diagnostics) : [annotation('error', error.message, {file: flags.file, title: `palette-keys: ${error.code}`})]
        process.stdout.write(lines.join('\n') + '\n')
      }
      throw error
    }
    // Users and keys may have lists of their own: warn only when some declared key inherits the empty one.
    const inherits = desired.users.some((u) => u.keys.some((k) => k.recipients.length === 0))
    if (desired.seal.recipients.length === 0 && (inherits || !desired.users.some((u) => u.keys.length > 0))) {
      const warning = `${flags.file}: seal.recipients is empty, so a plan that creates, rotates or moves a key with no list of its own or its user's will be refused (no-recipients).`
      this.logToStderr(`Warning: ${warning}`)
      if (github) this.log(annotation('warning', warning, {file: flags.file, title: 'palette-keys: no-recipients'}))
    }
    const keys = desired.users.reduce((n, u) => n + u.keys.length, 0)
    this.log(`${flags.file}: valid (${desired.users.length} users, ${keys} keys)`)
    return {valid: true, sealDir: relative(process.cwd(), resolve(dirname(flags.file), desired.seal.dir)) || '.', file: flags.file, users: desired.users.length, keys}
  }
}
