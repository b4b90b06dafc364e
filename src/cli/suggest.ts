import {createRequire} from 'node:module'

/** Loaded when a word is mistyped, not at every command's start-up. */
const levenshtein = () => createRequire(import.meta.url)('fastest-levenshtein') as typeof import('fastest-levenshtein')

/**
 * The known word nearest to a mistyped one, if it is near enough to be a typo: at most a
 * third of the typed word's length in edits, rounded up (at least 1, at most 3). Case is ignored. Nothing
 * is suggested for a word that is nothing like any known one (a pasted key, say), so a
 * suggestion never quotes a secret back either.
 */
export function suggestion(typed: string, known: readonly string[]): string | undefined {
  if (typed === '' || known.length === 0) return undefined
  const lower = typed.toLowerCase()
  const {closest, distance} = levenshtein()
  const best = closest(lower, known.map((k) => k.toLowerCase()))
  const edits = distance(lower, best)
  const allowed = Math.min(3, Math.max(1, Math.ceil(lower.length / 3)))
  if (edits === 0 || edits > allowed) return undefined
  return known.find((k) => k.toLowerCase() === best)
}
