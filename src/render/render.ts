import type {Plan} from '../plan/model.js'
import {renderJson} from './json.js'
import {renderMarkdown} from './markdown.js'
import {renderText} from './text.js'

/** One plan, any view: what `plan` and `show` print. */
export function renderPlan(plan: Plan, format: string, color: boolean): string {
  if (format === 'json') return renderJson(plan)
  if (format === 'markdown') return renderMarkdown(plan).join('\n')
  return renderText(plan, {color})
}
