import type {Diagnostic} from '../util/errors.js'
import {inertText} from './inert.js'

/**
 * GitHub Actions workflow commands (`::error file=…,line=…,col=…::message`): the runner shows
 * each as an annotation on that line of the pull request's diff. Values are escaped as the
 * runner reads them (a newline cannot start a second command): %, CR and LF in the message;
 * also : and , in a property.
 * https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions
 */
export function annotation(level: 'error' | 'warning' | 'notice', message: string, where: {file?: string; line?: number; col?: number; title?: string} = {}): string {
  const props: string[] = []
  if (where.file) props.push(`file=${escapeProperty(where.file)}`)
  if (where.line !== undefined && where.line > 0) props.push(`line=${where.line}`)
  if (where.col !== undefined && where.col > 0) props.push(`col=${where.col}`)
  if (where.title) props.push(`title=${escapeProperty(where.title)}`)
  return `::${level}${props.length > 0 ? ` ${props.join(',')}` : ''}::${escapeData(message)}`
}

/** One annotation per diagnostic, titled by its code, with its hint. */
export function diagnosticAnnotations(diagnostics: Diagnostic[]): string[] {
  return diagnostics.map((d) => annotation('error', `${d.message}${d.path ? ` (at ${d.path})` : ''}${d.hint ? `. Hint: ${d.hint}` : ''}`, {file: d.file, line: d.line, col: d.col, title: `palette-keys: ${d.code}`}))
}

function escapeData(text: string): string {
  // The runner's own escapes first (a line break shows as one); then inert, so no other
  // terminal or log control the text may quote (a key name) survives.
  return inertText(text.replaceAll('%', '%25').replaceAll('\r', '%0D').replaceAll('\n', '%0A'), 4000)
}

function escapeProperty(text: string): string {
  return escapeData(text).replaceAll(':', '%3A').replaceAll(',', '%2C')
}
