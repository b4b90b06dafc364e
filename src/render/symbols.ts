import type {styleText} from 'node:util'
import type {ActionKind, FindingKind} from '../plan/model.js'

/** Terraform-like signs: `+/-` is create-before-destroy (rotate and replace both create first). */
export const ACTION_SYMBOL: Record<ActionKind, string> = {
  create: '+',
  update: '~',
  revoke: '-',
  reactivate: '+',
  delete: '-',
  replace: '+/-',
  rotate: '+/-',
  'no-op': ' ',
}

/** The sign and kind columns of an action line, as the plan and apply's progress print them. */
export function actionColumns(kind: ActionKind): string {
  return `${ACTION_SYMBOL[kind].padEnd(3)} ${kind.padEnd(10)}`
}

export const ACTION_COLOR: Record<ActionKind, Parameters<typeof styleText>[0]> = {
  create: 'green',
  update: 'yellow',
  revoke: 'red',
  reactivate: 'green',
  delete: 'red',
  replace: 'magenta',
  rotate: 'cyan',
  'no-op': 'gray',
}

export const FINDING_LABEL: Record<FindingKind, string> = {
  unmanaged: 'unmanaged',
  expiring: 'expiring',
  expired: 'expired',
  'absent-inactive': 'absent',
  retired: 'retired',
  'orphaned-owner': 'orphaned',
  'undeclared-user': 'undeclared',
  'owner-disabled': 'disabled',
  'owner-inactive': 'inactive',
  'transient-name': 'renaming',
  'value-unconfirmed': 'unsealed',
  overlap: 'overlap',
  undelivered: 'undelivered',
  'sealed-to-other-recipients': 'recipients',
  'recipients-unrecorded': 'unrecorded',
}
