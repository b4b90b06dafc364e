import * as Flags from '@oclif/core/flags'
import {BaseCommand} from '../cli/base-command.js'
import {connect, useColor} from '../cli/connect.js'
import {ExitCode} from '../util/exit-codes.js'
import {connectionFlags, fileFlag, formatFlag, replaceFlag, rotationsOnlyFlag, applyAsFlag} from '../cli/flags.js'
import {makePlan} from '../cli/planning.js'
import {checkDemoRecipient, checkDesiredStateFile} from '../config/desired-state.js'
import {isPlanFile, writePlanFile} from '../plan/plan-file.js'
import {prepareOutput} from '../util/output-file.js'
import type {Plan} from '../plan/model.js'
import {type PlanDocument, planDocument} from '../plan/document.js'
import {renderPlan} from '../render/render.js'

export default class PlanCommand extends BaseCommand {
  static override summary = 'Show what apply would change: the desired-state file against the live Palette tenant.'

  static override description = `Reads the file, then the live tenant in a constant number of requests (who am I, all users, all keys, the users' status, the tenant's key limit), and prints a deterministic plan. It never changes anything.
Exit codes: 0 success (with --detailed-exitcode: no changes), 2 changes present (with --detailed-exitcode), 3 refused by a safety brake, 1 error (unknown users, ambiguous keys, API failure), 65 invalid file.`

  static override examples = [
    {description: 'Plan keys.yaml against the tenant in PALETTE_HOST', command: 'PALETTE_API_KEY=... <%= config.bin %> <%= command.id %>'},
    {description: 'Save the plan for `apply PLAN`, exit 2 when there are changes', command: '<%= config.bin %> <%= command.id %> -f keys.yaml --out plan.json --detailed-exitcode'},
    {description: 'A pull-request comment', command: '<%= config.bin %> <%= command.id %> --format markdown > plan.md'},
  ]

  static override enableJsonFlag = true

  static override flags = {
    ...fileFlag,
    ...formatFlag,
    ...connectionFlags,
    out: Flags.string({description: 'Save the plan (JSON, no secrets) to this file for `apply PLAN` or `show PLAN`.'}),
    'detailed-exitcode': Flags.boolean({description: 'Exit 2 when the plan has changes, 0 when none.', default: false}),
    force: Flags.boolean({description: 'Lift the change-ratio brake (never the caller-lockout brake).', default: false}),
    ...replaceFlag,
    ...rotationsOnlyFlag,
    ...applyAsFlag,
  }

  async run(): Promise<PlanDocument | undefined> {
    const {flags} = await this.parse(PlanCommand)
    const phase = phaseTimer()
    const now = new Date()
    // The file first: a broken file is reported (65) before any credential or request. Its users
    // are normalised by makePlan while the tenant's first answers are on their way.
    const desired = await checkDesiredStateFile(flags.file, now)
    phase('parse')
    // The output's place is checked before the tenant is read: a plan that cannot be saved is not made.
    if (flags.out) {
      await prepareOutput(flags.out, {flag: '--out', inputs: [flags.file], overwrite: isPlanFile, hint: 'It is not a saved plan (those are replaced): remove it, or choose another file.'})
    }
    const {client, host} = await connect(flags)
    try {
      checkDemoRecipient(desired, host)
      const {plan} = await makePlan({desired, api: client, host, force: flags.force, toolVersion: this.config.version, now, phase, replace: flags.replace, rotationsOnly: flags['rotations-only'], applyAs: flags['apply-as'] || undefined})
      if (flags.out) await writePlanFile(flags.out, plan)
      if (!this.jsonEnabled()) process.stdout.write(renderPlan(plan, flags.format, useColor()))
      phase('render')
      phase.report((line) => this.logToStderr(line))
      if (flags.out && !this.jsonEnabled()) this.logToStderr(`Saved the plan to ${flags.out}: apply it with \`palette-keys apply ${flags.out}\`.`)
      process.exitCode = planExitCode(plan, flags['detailed-exitcode'])
      // The document (with its Terraform view) is built only when it is printed: --json.
      return this.jsonEnabled() ? planDocument(plan) : undefined
    } finally {
      await client.close()
    }
  }
}

/**
 * PALETTE_KEYS_PHASES=1 (the bench's): one stderr line with the time of each phase of the
 * process, start-up (node and oclif, before the command runs) included.
 */
function phaseTimer(): ((name: string) => void) & {report(log: (line: string) => void): void} {
  const on = process.env.PALETTE_KEYS_PHASES === '1'
  const times: Array<[string, number]> = [['startup', performance.now()]]
  let last = performance.now()
  const mark = (name: string) => {
    if (!on) return
    const t = performance.now()
    times.push([name, t - last])
    last = t
  }
  return Object.assign(mark, {
    report: (log: (line: string) => void) => {
      if (on) log(`phases: ${times.map(([n, ms]) => `${n} ${ms.toFixed(1)} ms`).join(', ')}`)
    },
  })
}

/** 1 when the plan could not be made, 3 when a brake refuses it, 1 when a key is blocked, 2 for changes if asked, else 0. */
function planExitCode(plan: Plan, detailed: boolean): ExitCode {
  if (plan.errors.length > 0) return ExitCode.Error
  if (plan.brakes.refused) return ExitCode.Refused
  if (plan.blocked.length > 0) return ExitCode.Error
  if (detailed && plan.changes) return ExitCode.Changes
  return ExitCode.Ok
}
