import {readFile} from 'node:fs/promises'
import type {ValidateFunction} from 'ajv'
import {ExitCode} from '../util/exit-codes.js'
import {type PlanDocument, planDocument} from './document.js'
import {writeFileAtomic} from '../util/atomic-write.js'
import {schemaValidator} from '../util/ajv.js'
import {scrub} from '../util/scrub.js'
import {PaletteKeysError, UsageError} from '../util/errors.js'
import {type InputFileError, readInputFile} from '../util/input-file.js'
import {umaskMode} from '../util/output-file.js'
import {type Plan, PLAN_FORMAT} from './model.js'

/** A saved plan of 100,000 actions is about 60 MB. */
const MAX_PLAN_BYTES = 128 * 1024 * 1024

/** schemas/plan.schema.json */
export function planValidator(): ValidateFunction {
  return schemaValidator('schemas/plan.schema.json')
}

/** Saves a plan (the JSON document, no secrets) atomically, with the mode the umask gives. */
export async function writePlanFile(path: string, plan: Plan): Promise<void> {
  // Live names are anybody's text, and a server could echo the key in one: the scrubber sees the file too.
  await writeFileAtomic(path, scrub(JSON.stringify(planDocument(plan), null, 2) + '\n'), umaskMode())
}

/** Whether an existing file is a saved plan (which `plan --out` may replace), not some other file. */
export async function isPlanFile(path: string): Promise<boolean> {
  try {
    const doc = JSON.parse(await readFile(path, 'utf8')) as {format?: unknown}
    return doc.format === PLAN_FORMAT
  } catch {
    return false
  }
}

/**
 * Reads a saved plan; anything that is not a valid plan document is refused (exit 65). The
 * document is returned as written (resource_changes included): `apply PLAN` compares all of
 * it with the plan it recomputes.
 */
export async function readPlanFile(path: string): Promise<PlanDocument> {
  let text: string
  try {
    text = await readInputFile(path, MAX_PLAN_BYTES)
  } catch (error) {
    throw new UsageError(`Cannot read the plan file ${path} (${(error as InputFileError).reason}).`, [], 'plan-unreadable')
  }
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw invalidPlan(path, 'it is not JSON (truncated or not a plan file)')
  }
  const validate = planValidator()
  if (!validate(doc)) {
    const first = validate.errors?.[0]
    throw invalidPlan(path, `it does not match the plan format: ${first?.instancePath || '/'} ${first?.message ?? ''}`.trim())
  }
  return doc as PlanDocument
}

function invalidPlan(path: string, why: string): PaletteKeysError {
  return new PaletteKeysError(`${path} is not a usable palette-keys plan: ${why}.`, {
    code: 'invalid-plan',
    exitCode: ExitCode.InvalidInput,
    hints: ['Make a new one with `palette-keys plan --out FILE`.'],
  })
}
