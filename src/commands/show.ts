import * as Args from '@oclif/core/args'
import {BaseCommand} from '../cli/base-command.js'
import {connect, useColor} from '../cli/connect.js'
import {hostProblem, staleness} from '../apply/saved-plan.js'
import {connectionFlags, formatFlag} from '../cli/flags.js'
import {apiKeyConfigured} from '../palette/connection.js'
import {readLiveState} from '../live/snapshot.js'
import {readPlanFile} from '../plan/plan-file.js'
import type {PlanDocument} from '../plan/document.js'
import {renderPlan} from '../render/render.js'

export default class Show extends BaseCommand {
  static override summary = 'Render a saved plan as text, JSON or Markdown; warn when it is stale.'

  static override description = `Reads a plan saved by \`plan --out\`. When an API key is configured (PALETTE_API_KEY, SPECTROCLOUD_APIKEY or --api-key-file), it also reads the live keys of the configured host (--host, PALETTE_HOST, SPECTROCLOUD_HOST or the default; never the plan's) and warns on stderr when they changed since the plan was made, or when the plan was made for another host (then no request is sent); it never fails for that. Only \`apply PLAN\` proves a plan is what the reviewed file gives (it recomputes it).`

  static override examples = [
    {description: 'Show a saved plan', command: '<%= config.bin %> <%= command.id %> plan.json'},
    {description: 'As a pull-request comment', command: '<%= config.bin %> <%= command.id %> plan.json --format markdown'},
  ]

  static override enableJsonFlag = true

  static override args = {plan: Args.string({description: 'A plan file written by `plan --out`.', required: true})}

  static override flags = {...formatFlag, ...connectionFlags}

  async run(): Promise<PlanDocument> {
    const {args, flags} = await this.parse(Show)
    const plan = await readPlanFile(args.plan)
    await this.warnIfStale(plan, flags)
    // Relative times from now, with the plan's age said: a saved plan is read later than it was made.
    if (!this.jsonEnabled()) process.stdout.write(renderPlan(plan, flags.format, useColor(), new Date()))
    return plan
  }

  /**
   * Part of the check `apply PLAN` makes (host, tenant, live keys), as a warning. The host is
   * the operator's (flag, environment, default), never the plan's: a plan made for another
   * host is reported and no request is sent.
   */
  private async warnIfStale(plan: PlanDocument, flags: Parameters<typeof connect>[0]): Promise<void> {
    if (!apiKeyConfigured({apiKeyFile: flags['api-key-file']})) return
    try {
      const {client, host} = await connect(flags)
      try {
        const otherHost = hostProblem(plan, host)
        if (otherHost) {
          this.logInert(`Warning: ${otherHost.message}`)
          return
        }
        if (staleness(plan, await readLiveState(client, host, {declaredEmails: []}))) {
          this.logToStderr('Warning: the live keys changed since this plan was made; `apply` of it would stop with exit 4. Plan again.')
        }
      } finally {
        await client.close()
      }
    } catch (error) {
      this.logInert(`Warning: could not check whether the plan is stale: ${(error as Error).message}`)
    }
  }
}
