import type {Action, ActionKind} from '../plan/model.js'
import {formatDuration} from '../config/duration.js'
import {inertText} from './inert.js'

/**
 * About how many requests on /v1/apiKeys an action makes (README, "Requests"): what the rate
 * limit lets through bounds how fast the rest can go.
 */
const REQUESTS: Record<ActionKind, number> = {create: 1, replace: 3, rotate: 3, update: 1, revoke: 1, reactivate: 1, delete: 1, 'no-op': 0}

export interface ProgressOptions {
  /** Requests per second the client lets through (0: no limit). */
  ratePerSecond: number
  now?: () => number
}

/**
 * The `[n/N]` lines a long apply writes to stderr: the action just finished, the time since the
 * first change, and an estimate of the time left. The estimate is the larger of two: the pace so
 * far, and the requests still to make at the rate limit (the floor no pace can beat).
 */
export class Progress {
  private readonly total: number
  private readonly started: number
  private done = 0
  private requestsLeft: number
  private readonly now: () => number

  constructor(actions: readonly Action[], private readonly options: ProgressOptions) {
    const work = actions.filter((a) => a.kind !== 'no-op')
    this.total = work.length
    this.requestsLeft = work.reduce((n, a) => n + REQUESTS[a.kind], 0)
    this.now = options.now ?? Date.now
    this.started = this.now()
  }

  /** The line for one finished (or failed) action. */
  step(action: Action, status: string): string {
    this.done++
    this.requestsLeft = Math.max(0, this.requestsLeft - REQUESTS[action.kind])
    const elapsed = this.now() - this.started
    const left = this.total - this.done
    const byPace = this.done > 0 ? (elapsed / this.done) * left : 0
    const byLimit = this.options.ratePerSecond > 0 ? (this.requestsLeft / this.options.ratePerSecond) * 1000 : 0
    const estimate = left === 0 ? '' : `, about ${short(Math.max(byPace, byLimit))} left`
    const width = String(this.total).length
    return `[${String(this.done).padStart(width)}/${this.total}] ${action.kind} ${inertText(action.address)} ${status} (${short(elapsed)} elapsed${estimate})`
  }
}

/** Seconds under two minutes, else the duration's usual short form. */
function short(ms: number): string {
  return ms < 120_000 ? `${Math.round(ms / 1000)}s` : formatDuration(ms).replace(/^(\d+)m$/, '$1 min')
}
