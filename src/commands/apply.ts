import {dirname, resolve} from 'node:path'
import {createInterface} from 'node:readline/promises'
import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {type ActionOutcome, execute} from '../apply/executor.js'
import {type ApplyResult, applyResult} from '../apply/result.js'
import {acquireLease} from '../apply/lease.js'
import {DEFAULT_MAX_PLAN_AGE, desiredFileProblem, hostProblem, mismatch, planTime, staleness} from '../apply/saved-plan.js'
import {parseDuration} from '../config/duration.js'
import {BaseCommand} from '../cli/base-command.js'
import {connect, useColor} from '../cli/connect.js'
import {applyPlatformProblem} from '../cli/platform.js'
import {ExitCode} from '../util/exit-codes.js'
import {connectionFlags, fileFlag, replaceFlag, rotationsOnlyFlag} from '../cli/flags.js'
import {Deliverer} from '../deliver/deliver.js'
import {makePlan} from '../cli/planning.js'
import {checkDemoRecipient, checkRecipientsSealable, loadDesiredStateFile} from '../config/desired-state.js'
import type {LiveState} from '../live/snapshot.js'
import type {PaletteHttpClient} from '../palette/http-client.js'
import type {Action, Plan} from '../plan/model.js'
import {readPlanFile} from '../plan/plan-file.js'
import {blockedPhrase, createdFor, createdValues} from '../render/summary.js'
import {actionColumns} from '../render/symbols.js'
import {inertText} from '../render/inert.js'
import {renderText} from '../render/text.js'
import {Progress} from '../render/progress.js'
import {removeStaleFiles, repositoryOf, SealDir} from '../seal/seal-dir.js'
import {PaletteKeysError, UsageError} from '../util/errors.js'

export default class Apply extends BaseCommand {
  static override summary = 'Make the tenant match the desired-state file; seal every created key value at once.'

  static override description = `Without PLAN: plans afresh from -f FILE, shows the plan and asks for confirmation on a terminal (--auto-approve skips it; without a terminal it is required). With PLAN (from \`plan --out\`): applies that plan without asking, but only after recomputing it from -f FILE (the file it was made from, same SHA-256) and the live tenant at the plan's time: any difference (an edited plan, changed live keys, another host, tenant, version or --force) exits 4 with nothing changed, as does a plan older than --max-plan-age (7d) or dated in the future. Created keys' relative expiries (expiresIn) count from the apply.
Before the first change, apply takes a lease (an annotation on a key of the caller that the plan leaves alone) and stops (exit 1) if another apply holds one; it is renewed while the run goes on and removed at the end.
Every created value is encrypted to seal.recipients and written under seal.dir before the next change starts. A failure confined to one key (Palette refused that request) does not stop the others; one that would hit every action (credential, rate limit, network, sealing) stops new ones, and after any failure the caller's own keys are left alone. Run apply again to converge.
Exit codes: 0 done (or nothing to do), 1 an action failed, a key was blocked (twins, a hand-made key in the way, a declared user missing from Palette) or an error, 3 refused by a safety brake, 4 saved plan is stale, 64 usage (e.g. no terminal and no --auto-approve, a seal folder that is a link, outside the repository or not writable), 65 invalid file (a recipient nothing can be sealed to, the demo recipient for a real host).`

  static override examples = [
    {description: 'Review and confirm interactively', command: '<%= config.bin %> <%= command.id %> -f keys.yaml'},
    {description: 'In CI, after review of the same file', command: '<%= config.bin %> <%= command.id %> -f keys.yaml --auto-approve'},
    {description: 'Apply exactly a reviewed plan', command: '<%= config.bin %> plan --out plan.json && <%= config.bin %> <%= command.id %> plan.json'},
  ]

  static override enableJsonFlag = true

  static override args = {plan: Args.string({description: 'A plan saved by `plan --out`.', required: false})}

  static override flags = {
    ...fileFlag,
    ...connectionFlags,
    'auto-approve': Flags.boolean({description: 'Do not ask for confirmation.', default: false}),
    parallelism: Flags.integer({description: 'Actions run at once (all under the rate limiter).', default: 4, min: 1, max: 16}),
    force: Flags.boolean({description: 'Lift the change-ratio brake (never the caller-lockout brake), and allow a world-writable seal folder.', default: false}),
    ...replaceFlag,
    ...rotationsOnlyFlag,
    'break-lease': Flags.boolean({description: 'Go on although another apply\'s lease is live (only when you know no other apply is running).', default: false}),
    'max-plan-age': Flags.string({description: 'Refuse (exit 4) a saved plan older than this (a duration: 12h, 7d, 2w).', default: DEFAULT_MAX_PLAN_AGE, env: 'PALETTE_KEYS_MAX_PLAN_AGE'}),
    progress: Flags.boolean({description: 'Write a line per finished action to stderr: [n/N], the time so far and an estimate of the time left (from the pace and the rate limit). Default: on a terminal only.', allowNo: true}),
    'lease-settle': Flags.integer({description: 'Milliseconds between writing the lease and reading it back; taking the lease (a read and the write) must take less, or the run stops.', default: 1000, min: 0, max: 60_000, env: 'PALETTE_KEYS_LEASE_SETTLE_MS'}),
  }

  async run(): Promise<ApplyResult> {
    const {args, flags} = await this.parse(Apply)
    const platform = applyPlatformProblem(process.platform)
    if (platform) throw platform
    if (!args.plan && !flags['auto-approve'] && !process.stdin.isTTY) {
      throw new UsageError('apply asks for confirmation, but there is no terminal to ask on.', ['Pass --auto-approve, or apply a reviewed plan file: `palette-keys plan --out plan.json` then `palette-keys apply plan.json`.'], 'no-tty')
    }
    const saved = args.plan ? await readPlanFile(args.plan) : undefined
    // A saved plan is recomputed at its own time from the file the operator names (-f), never from a path in the plan.
    const maxAge = parseDuration(flags['max-plan-age'])
    if (maxAge === undefined) throw new UsageError(`--max-plan-age must be a duration such as 12h, 7d or 2w, got "${flags['max-plan-age']}".`, [], 'max-plan-age')
    const now = saved ? planTime(saved, new Date(), maxAge) : new Date()
    // Without a plan, a broken file is reported (65) before any credential is looked at.
    let desired = saved ? undefined : await loadDesiredStateFile(flags.file, now)
    const {client, host} = await connect(flags)
    try {
      if (saved) {
        const otherHost = hostProblem(saved, host)
        if (otherHost) throw otherHost
        desired = await loadDesiredStateFile(flags.file, now)
        const otherFile = desiredFileProblem(saved, desired)
        if (otherFile) throw otherFile
      }
      checkDemoRecipient(desired!, host)
      const {plan, live} = await makePlan({desired: desired!, api: client, host, force: flags.force, toolVersion: this.config.version, now, replace: flags.replace, rotationsOnly: flags['rotations-only']})
      if (saved) {
        const problem = staleness(saved, live) ?? mismatch(saved, plan)
        if (problem) throw problem
      }
      if (!this.jsonEnabled()) process.stdout.write(renderText(plan, {color: useColor()}))
      this.checkRunnable(plan)
      if (!plan.changes) return this.finish(plan, applyResult(plan, []))

      const sealDir = new SealDir(resolve(dirname(flags.file), plan.seal.dir))
      if (createdValues(plan) > 0) {
        await checkRecipientsSealable(desired!)
        await sealDir.prepare({root: repositoryOf(flags.file), users: createdFor(plan), allowWorldWritable: flags.force})
      } else {
        // Deletes remove the deleted keys' sealed files: through no link, and never outside the repository.
        await sealDir.check({root: repositoryOf(flags.file)})
      }
      const targets = plan.actions.flatMap((a) => (a.kind === 'create' || a.kind === 'replace' || a.kind === 'rotate' ? (a.target.deliver ?? []) : []))
      const unreachable = Deliverer.problems(targets, process.env)
      if (unreachable.length > 0) throw new UsageError(`This plan delivers new values, but ${unreachable.join('; ')}. Nothing was changed.`, ['See the README, "Delivering new values".'], 'delivery-token')
      if (!saved && !flags['auto-approve'] && !(await this.confirm(plan))) {
        throw new PaletteKeysError('Apply cancelled; nothing was changed.', {code: 'cancelled', exitCode: ExitCode.Error})
      }
      const lease = await acquireLease({api: client, plan, live, settleMs: flags['lease-settle'], breakLease: flags['break-lease'], warn: (m) => this.logInert(`Warning: ${m}`)})
      try {
        const deliverer = targets.length > 0 ? new Deliverer({cwd: dirname(resolve(flags.file)), env: process.env}) : undefined
        // On a terminal unless asked; in a CI log only with --progress.
        const progress = (flags.progress ?? Boolean(process.stderr.isTTY)) ? new Progress(plan.actions, {ratePerSecond: flags['rate-limit']}) : undefined
        return this.finish(plan, await this.execute(plan, live, client, sealDir, flags.parallelism, deliverer, progress))
      } finally {
        await lease.release().catch((error: Error) => this.logInert(`Warning: could not remove this run's lease (it ends by itself within 2 minutes): ${error.message}`))
      }
    } finally {
      await client.close()
    }
  }

  /** Keys the plan could not handle (twins, a hand-made key in the way) make the run fail once the rest is done. */
  private finish(plan: Plan, result: ApplyResult): ApplyResult {
    if (plan.blocked.length > 0) {
      process.exitCode = ExitCode.Error
      if (!this.jsonEnabled()) this.log(`\n${blockedPhrase(plan)} ${plan.blocked.length === 1 ? 'was' : 'were'} blocked and left alone (see above): ${plan.blocked.map((b) => inertText(b.address ?? '')).join(', ')}. Resolve ${plan.blocked.length === 1 ? 'it' : 'them'} as hinted, then run apply again.`)
    }
    return result
  }

  private checkRunnable(plan: Plan): void {
    if (plan.errors.length > 0) {
      throw new PaletteKeysError(`The plan cannot be made: ${plan.errors.map((e) => e.code).join(', ')} (see above). Nothing was changed.`, {code: 'plan-errors', exitCode: ExitCode.Error})
    }
    if (plan.brakes.refused) {
      const b = plan.brakes.items.filter((i) => !i.forceable || !plan.policy.force)
      throw new PaletteKeysError(`Refused by a safety brake (${b.map((i) => i.code).join(', ')}). Nothing was changed.`, {code: 'refused', exitCode: ExitCode.Refused, hints: b.map((i) => i.message)})
    }
  }

  private async confirm(plan: Plan): Promise<boolean> {
    const rl = createInterface({input: process.stdin, output: process.stderr})
    try {
      const answer = await rl.question(`\nApply these changes to tenant ${inertText(plan.tenant.orgName || plan.tenant.uid)} at ${inertText(plan.host)}? Only 'yes' is accepted: `)
      return answer.trim() === 'yes'
    } finally {
      rl.close()
    }
  }

  private async execute(plan: Plan, live: LiveState, client: PaletteHttpClient, sealDir: SealDir, parallelism: number, deliverer?: Deliverer, progress?: Progress): Promise<ApplyResult> {
    const onOutcome = (o: ActionOutcome, a: Action) => {
      if (progress) this.logToStderr(progress.step(a, o.status === 'done' ? 'done' : 'failed'))
      if (this.jsonEnabled()) return
      const what = o.status === 'done' ? 'done' : `FAILED: ${inertText(o.error ?? '', 1000)}`
      const sealed = o.sealedFile ? `, sealed to ${inertText(sealDir.display(o.sealedFile))}` : ''
      const note = o.note ? ` (${inertText(o.note)})` : ''
      this.log(`  ${actionColumns(a.kind)}  ${inertText(a.address)}  ${what}${sealed}${note}`)
    }
    if (!this.jsonEnabled()) this.log('\nApplying:')
    const outcomes = await execute(plan.actions, {api: client, sealer: sealDir, live, parallelism, onOutcome, custody: plan.seal.custody, deliverer})
    // Stale sealed files (their key gone or retired), from this run's own reading of the folder.
    const removed = await removeStaleFiles(sealDir.dir, plan.seal.stale.map((f) => f.file))
    if (!this.jsonEnabled()) for (const f of removed) this.log(`  -   stale file  ${inertText(sealDir.display(f))}  removed`)
    const result = applyResult(plan, outcomes, removed.map((f) => sealDir.display(f)))
    const {done, failed, notStarted} = result.counts
    if (failed > 0) {
      process.exitCode = ExitCode.Error
      if (!this.jsonEnabled()) {
        this.log(`\nApply failed: ${done} done, ${failed} failed, ${notStarted} not started.`)
        this.log(`Nothing is lost: every created value is sealed, and a key whose value was not ${plan.seal.custody === 'folder' ? 'has no sealed file, so it is replaced once seal.custodyGrace has passed' : 'is marked pending and replaced next time'}. Fix the cause above, then run apply again to converge.`)
      }
    } else if (!this.jsonEnabled()) {
      const sealed = result.sealedFiles.length
      this.log(`\nApply complete: ${done} done.${sealed > 0 ? ` ${sealed} value${sealed === 1 ? '' : 's'} sealed under ${sealDir.display(sealDir.dir)}/.` : ''}`)
    }
    return result
  }
}
