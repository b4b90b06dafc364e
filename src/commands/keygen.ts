import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {identityFileText, newIdentity} from '../seal/identity.js'
import {writeFileAtomic} from '../util/atomic-write.js'
import {UsageError} from '../util/errors.js'
import {prepareOutput} from '../util/output-file.js'

export interface KeygenResult {
  recipient: string
  file?: string
}

export default class Keygen extends BaseCommand {
  static override summary = 'Create an age identity for opening sealed outputs, and print its recipient.'

  static override description = `Writes an X25519 age identity (with --pq a post-quantum hybrid one, ML-KEM-768 + X25519, as age-keygen -pq makes; only age 1.3 and later open files sealed to it) in the same format as age-keygen (mode 0600; an existing file is never overwritten without --force) and prints its public recipient (age1…) on stdout, ready for seal.recipients. Without -o the identity goes to stdout and the recipient to stderr, as age-keygen does.
Keep the identity secret (a password manager, a CI secret); commit only the recipient.`

  static override examples = [
    {description: 'Make an identity and capture its recipient', command: 'R=$(<%= config.bin %> <%= command.id %> -o ~/.config/palette-keys/identity.txt)'},
    {description: 'Replace an existing identity file', command: '<%= config.bin %> <%= command.id %> -o identity.txt --force'},
    {description: 'A post-quantum identity (its recipient starts age1pq1)', command: '<%= config.bin %> <%= command.id %> --pq -o identity-pq.txt'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    output: Flags.string({char: 'o', description: 'Write the identity to this file (mode 0600).'}),
    force: Flags.boolean({description: 'Overwrite an existing file.', default: false}),
    pq: Flags.boolean({description: 'A post-quantum hybrid identity (ML-KEM-768 + X25519; recipient age1pq1…). Files sealed to it open with palette-keys and age 1.3 or later, not with Debian\'s age 1.1.1.', default: false}),
  }

  async run(): Promise<KeygenResult> {
    const {flags} = await this.parse(Keygen)
    // --json prints only the recipient: without -o the identity would be thrown away.
    if (this.jsonEnabled() && !flags.output) throw new UsageError('keygen --json needs -o FILE: the identity goes only to a file, and without one it would be lost.', ['palette-keys keygen -o identity.txt --json'], 'keygen-json-needs-output')
    const id = await newIdentity({pq: flags.pq})
    const text = identityFileText(id, new Date())
    if (!flags.output) {
      if (!this.jsonEnabled()) {
        process.stdout.write(text)
        this.logToStderr(`Public key: ${id.recipient}`)
      }
      return {recipient: id.recipient}
    }
    // Parent folders are created private (0700), as ssh keeps ~/.ssh.
    await prepareOutput(flags.output, {flag: '-o', dirMode: 0o700, overwrite: () => flags.force, hint: 'It may be an identity: its sealed files would become unreadable. Pass --force to replace it, or choose another file.'})
    await writeFileAtomic(flags.output, text, 0o600)
    this.log(id.recipient)
    return {recipient: id.recipient, file: flags.output}
  }
}
