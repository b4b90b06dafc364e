import type {Plan} from '../plan/model.js'
import {planDocument} from '../plan/document.js'

/** `plan --format json`: the plan's document (plan/document.ts), as JSON. */
export function renderJson(plan: Plan): string {
  return JSON.stringify(planDocument(plan), null, 2) + '\n'
}
