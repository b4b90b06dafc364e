import type {ValidateFunction} from 'ajv'
import type {Plan, Summary} from '../plan/model.js'
import {schemaValidator} from '../util/ajv.js'
import type {ActionOutcome} from './executor.js'

export interface ApplyResult {
  format: 'palette-keys-apply'
  formatVersion: 1
  host: string
  tenant: {uid: string; orgName: string}
  summary: Summary
  outcomes: ActionOutcome[]
  counts: {done: number; failed: number; notStarted: number}
  sealedFiles: string[]
  /** Stale sealed files this run removed (their key gone or retired). */
  removedSealedFiles: string[]
}

export function applyResult(plan: Plan, outcomes: ActionOutcome[], removedSealedFiles: string[] = []): ApplyResult {
  return {
    format: 'palette-keys-apply',
    formatVersion: 1,
    host: plan.host,
    tenant: plan.tenant,
    summary: plan.summary,
    outcomes,
    counts: {
      done: outcomes.filter((o) => o.status === 'done').length,
      failed: outcomes.filter((o) => o.status === 'failed').length,
      notStarted: outcomes.filter((o) => o.status === 'not-started').length,
    },
    sealedFiles: outcomes.flatMap((o) => (o.sealedFile ? [o.sealedFile] : [])),
    removedSealedFiles,
  }
}

/** schemas/apply-result.schema.json */
export function applyResultValidator(): ValidateFunction {
  return schemaValidator('schemas/apply-result.schema.json')
}
