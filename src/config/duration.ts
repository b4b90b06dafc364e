/** Durations in the desired-state file: a whole number and a unit, h, d or w (`12h`, `90d`, `2w`). */
import {DURATION_OR_ZERO_PATTERN, DURATION_PATTERN} from '../util/formats.js'

const UNIT_MS = {h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000} as const

export function parseDuration(text: string, allowZero = false): number | undefined {
  const m = (allowZero ? DURATION_OR_ZERO_PATTERN : DURATION_PATTERN).exec(text)
  if (!m) return undefined
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]
}

/** A short human form: whole days or hours, else minutes. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms)
  if (abs >= UNIT_MS.d) return `${Math.floor(ms / UNIT_MS.d)}d`
  if (abs >= UNIT_MS.h) return `${Math.floor(ms / UNIT_MS.h)}h`
  return `${Math.max(0, Math.floor(ms / 60_000))}m`
}

/** The exact form parseDuration reads back: whole days when it is some, else whole hours (durations are whole hours). */
export function exactDuration(ms: number): string {
  return ms % UNIT_MS.d === 0 ? `${ms / UNIT_MS.d}d` : `${Math.round(ms / UNIT_MS.h)}h`
}
