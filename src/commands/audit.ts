import * as Flags from '@oclif/core/flags'
import {type AuditReport, audit} from '../audit/audit.js'
import {renderAuditMarkdown, renderAuditText} from '../audit/render.js'
import {BaseCommand} from '../cli/base-command.js'
import {connect, useColor} from '../cli/connect.js'
import {ExitCode} from '../util/exit-codes.js'
import {applyAsFlag, connectionFlags, fileFlag, formatFlag} from '../cli/flags.js'
import {makePlan} from '../cli/planning.js'
import {checkDesiredStateFile} from '../config/desired-state.js'
import {parseDuration} from '../config/duration.js'
import {UsageError} from '../util/errors.js'

export default class Audit extends BaseCommand {
  static override summary = 'Report drift between the desired-state file and the live tenant, and expiring keys, for scheduled jobs.'

  static override description = `Finds declared keys that are missing, live keys nobody declared, field drift, revoked keys declared active (and the reverse), keys apply would delete or replace, clean-up left by an interrupted apply, and keys expired or expiring within --expiring-within. Ends with a unified diff of the declared file versus the live state, both in the normalised form \`export\` writes. It changes nothing.
Exit codes: 0 clean, 2 findings, 1 error, 65 invalid file.`

  static override examples = [
    {description: 'Nightly: fail the job (exit 2) on any drift or key expiring within 30 days', command: '<%= config.bin %> <%= command.id %> -f keys.yaml --expiring-within 30d'},
    {description: 'As an issue body or a chat message', command: '<%= config.bin %> <%= command.id %> --format markdown > audit.md'},
    {description: 'For a dashboard', command: '<%= config.bin %> <%= command.id %> --format json > audit.json'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...fileFlag,
    ...formatFlag,
    ...connectionFlags,
    'expiring-within': Flags.string({description: 'Report keys expiring within this duration (e.g. 30d). Default: policy.warnBefore (14d).'}),
    ...applyAsFlag,
  }

  async run(): Promise<AuditReport> {
    const {flags} = await this.parse(Audit)
    const window = flags['expiring-within'] === undefined ? undefined : parseDuration(flags['expiring-within'])
    if (flags['expiring-within'] !== undefined && window === undefined) {
      throw new UsageError(`--expiring-within must be a duration such as 12h, 30d or 2w; got "${flags['expiring-within']}".`)
    }
    const now = new Date()
    const checked = await checkDesiredStateFile(flags.file, now)
    const {client, host} = await connect(flags)
    try {
      const {desired, live, plan} = await makePlan({desired: checked, api: client, host, force: true, toolVersion: this.config.version, now, applyAs: flags['apply-as'] || undefined})
      const report = audit(desired, live, plan, now, window ?? desired.policy.warnBeforeMs)
      if (!this.jsonEnabled()) {
        if (flags.format === 'json') process.stdout.write(JSON.stringify(report, null, 2) + '\n')
        else if (flags.format === 'markdown') process.stdout.write(renderAuditMarkdown(report))
        else process.stdout.write(renderAuditText(report, useColor()))
      }
      process.exitCode = report.errors.length > 0 ? ExitCode.Error : report.clean ? ExitCode.Ok : ExitCode.Changes
      return report
    } finally {
      await client.close()
    }
  }
}
