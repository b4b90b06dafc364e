import {BaseCommand} from '../cli/base-command.js'
import {fileFlag} from '../cli/flags.js'
import {checkRecipientsSealable, loadDesiredStateFile} from '../config/desired-state.js'

export interface ValidateResult {
  valid: true
  file: string
  users: number
  keys: number
}

export default class Validate extends BaseCommand {
  static override summary = 'Check a desired-state file offline: schema, semantics, every problem at once.'

  static override description = `Reads the file with positions and reports every problem as file:line:col with a stable code and a hint, and seals a few bytes to each recipient (a recipient nothing can be sealed to is an error). Talks to no API. Warns when seal.recipients is empty.
Exit 0 when the file is valid, 65 when it is not (64 when it cannot be read).`

  static override examples = [
    {description: 'Check keys.yaml (the default)', command: '<%= config.bin %> <%= command.id %>'},
    {description: 'Check another file, diagnostics as JSON', command: '<%= config.bin %> <%= command.id %> -f examples/keys.yaml --json'},
  ]

  static override enableJsonFlag = true

  static override flags = {...fileFlag}

  async run(): Promise<ValidateResult> {
    const {flags} = await this.parse(Validate)
    const desired = await loadDesiredStateFile(flags.file, new Date())
    await checkRecipientsSealable(desired)
    if (desired.seal.recipients.length === 0) this.logToStderr(`Warning: ${flags.file}: seal.recipients is empty, so a plan that creates, rotates or moves a key will be refused (no-recipients).`)
    const keys = desired.users.reduce((n, u) => n + u.keys.length, 0)
    this.log(`${flags.file}: valid (${desired.users.length} users, ${keys} keys)`)
    return {valid: true, file: flags.file, users: desired.users.length, keys}
  }
}
