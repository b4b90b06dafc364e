import {type Action, assertNever, type Plan} from './model.js'

/** Terraform's `resource_changes[]` entry, so tools that read Terraform plans read ours. */
export interface ResourceChange {
  address: string
  type: 'palette_api_key'
  name: string
  change: {actions: string[]; before: Record<string, unknown> | null; after: Record<string, unknown> | null}
  action_reason: string
}

export type PlanDocument = Plan & {resource_changes: ResourceChange[]}

/**
 * The versioned JSON plan (also the saved plan file): the Plan plus Terraform-style changes. The
 * plan's own document, which views (render/json.ts) print and plan files save; built only when needed.
 */
export function planDocument(plan: Plan): PlanDocument {
  return {...plan, resource_changes: plan.actions.map(resourceChange)}
}


function resourceChange(a: Action): ResourceChange {
  const base = {address: a.address, type: 'palette_api_key' as const, action_reason: a.reason}
  switch (a.kind) {
    case 'create':
      return {...base, name: a.target.name, change: {actions: ['create'], before: null, after: {...a.target, active: true}}}
    case 'update':
      return {
        ...base,
        name: a.key.name,
        change: {
          actions: ['update'],
          before: {uid: a.key.uid, ...Object.fromEntries(a.changes.map((c) => [c.field, c.before]))},
          after: {uid: a.key.uid, ...Object.fromEntries(a.changes.map((c) => [c.field, c.after]))},
        },
      }
    case 'revoke':
    case 'reactivate':
      return {...base, name: a.key.name, change: {actions: ['update'], before: {uid: a.key.uid, active: a.kind === 'reactivate' ? false : true}, after: {uid: a.key.uid, active: a.kind === 'reactivate'}}}
    case 'delete':
      return {...base, name: a.key.name, change: {actions: ['delete'], before: {uid: a.key.uid, email: a.key.email, name: a.key.name}, after: null}}
    case 'replace':
      return {...base, name: a.target.name, change: {actions: ['create', 'delete'], before: {uid: a.from.uid, email: a.from.email, name: a.from.name}, after: {...a.target, active: true}}}
    case 'rotate':
      return {...base, name: a.target.name, change: {actions: ['create', 'delete'], before: {uid: a.key.uid, email: a.key.email, name: a.key.name}, after: {...a.target, active: true}}}
    case 'no-op':
      return {...base, name: a.key.name, change: {actions: ['no-op'], before: {uid: a.key.uid}, after: {uid: a.key.uid}}}
    default:
      return assertNever(a)
  }
}
