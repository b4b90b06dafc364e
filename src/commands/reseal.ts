import {dirname, join, resolve} from 'node:path'
import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {fileFlag} from '../cli/flags.js'
import {checkRecipientsSealable, loadDesiredStateFile} from '../config/desired-state.js'
import {inertText} from '../render/inert.js'
import {givenIdentities} from '../seal/identity.js'
import {type ResealEntry, type ResealReport, resealFolder} from '../seal/reseal.js'
import {repositoryOf, SealDir} from '../seal/seal-dir.js'
import {ExitCode} from '../util/exit-codes.js'

const WORD: Record<ResealEntry['status'], string> = {resealed: 'resealed', current: 'current', 'not-opened': 'not opened', broken: 'broken', refused: 'refused'}

export default class Reseal extends BaseCommand {
  static override summary = 'Re-encrypt the sealed values you can open to the recipients the file lists now.'

  static override description = `After a recipient is added to seal.recipients (or to a user's or key's list), values sealed before stay closed to it: reseal opens every sealed file under seal.dir that the identities given by -i open, and seals it again to the recipients its key's list names now (the key's, its user's, or the file's), in place (same name, atomic, mode 0600). Each new file records whom it is sealed to, and whom earlier files of the value were sealed to: a recipient dropped here may keep a copy (git history), so plan still rotates the value when one is removed from its list.
It reports what it re-sealed, what was already current, what no given identity opens (and whether its holder should reseal it), and what it could not use. --dry-run writes nothing.
reseal makes no request and needs no API key. Run it on a person's machine: CI holds no identity. Commit the changed files.
Exit 0 when every file that needs it was re-sealed or is current; 1 when a file could not be used, was refused, or needs a reseal no given identity can do.`

  static override examples = [
    {description: 'See what would change', command: '<%= config.bin %> <%= command.id %> -i identity.txt --dry-run'},
    {description: 'Re-seal, then commit', command: '<%= config.bin %> <%= command.id %> -i identity.txt && git add sealed && git commit -m "Re-seal to the new recipients"'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...fileFlag,
    identity: Flags.string({char: 'i', description: 'age identity file (ours or age-keygen\'s); repeat for several; - reads one from standard input. Without -i, the identity text in PALETTE_KEYS_IDENTITY is used.', multiple: true}),
    'dry-run': Flags.boolean({description: 'List what would be re-sealed; write nothing.', default: false}),
  }

  async run(): Promise<ResealReport> {
    const {flags} = await this.parse(Reseal)
    const desired = await loadDesiredStateFile(flags.file, new Date())
    // A recipient nothing can be sealed to fails here, before any file is rewritten.
    await checkRecipientsSealable(desired)
    const identities = await givenIdentities(flags.identity ?? [], 'reseal')
    const dir = resolve(dirname(flags.file), desired.seal.dir)
    const sealDir = new SealDir(dir)
    // Through no link, and never outside the repository (as apply).
    await sealDir.check({root: repositoryOf(flags.file)})
    const report = await resealFolder(desired, dir, identities, {dryRun: flags['dry-run']})
    if (!this.jsonEnabled()) {
      for (const f of report.files) this.log(inertText(line(f, sealDir.display(join(dir, f.file))), 2000))
      const c = report.counts
      this.log(`${report.dryRun ? 'Would re-seal' : 'Re-sealed'} ${c.resealed}; already current ${c.current}; not opened ${c['not-opened']}; broken ${c.broken}; refused ${c.refused}.${report.dryRun ? ' Nothing was written (--dry-run).' : c.resealed > 0 ? ' Commit the changed files.' : ''}`)
    }
    const stuck = report.files.filter((f) => f.status === 'broken' || f.status === 'refused' || (f.status === 'not-opened' && f.needsReseal === true))
    if (stuck.length > 0) {
      this.logInert(`Error: ${stuck.length} sealed file${stuck.length === 1 ? '' : 's'} could not be re-sealed to ${stuck.length === 1 ? 'its' : 'their'} list by this run (see above).`)
      if (stuck.some((f) => f.status === 'not-opened')) this.logInert('  - A file no given identity opens needs a reseal by a holder of one of the recipients it is sealed to (named above), or a rotation (plan --replace USER/NAME).')
      if (stuck.some((f) => f.status === 'broken')) this.logInert('  - A truncated, edited or planted file cannot be trusted; the key it held must be rotated.')
      process.exitCode = ExitCode.Error
    }
    return report
  }
}

function line(f: ResealEntry, path: string): string {
  const what = f.status === 'resealed' || f.status === 'current' ? `to ${f.to!.join(', ')}${f.before ? ` (was ${f.before.join(', ')})` : ''}` : ''
  return `  ${WORD[f.status].padEnd(10)}  ${path}${f.key ? `  ${f.key}` : ''}${what ? `  ${what}` : ''}${f.note ? `  ${f.note}` : ''}`
}
