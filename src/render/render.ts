import type {Plan} from '../plan/model.js'
import {renderJson} from './json.js'
import {renderMarkdown} from './markdown.js'
import {renderText} from './text.js'

/** One plan, any view: what `plan` and `show` print. Relative times count from `now` (default: the plan's own time). */
export function renderPlan(plan: Plan, format: string, color: boolean, now?: Date): string {
  if (format === 'json') return renderJson(plan)
  if (format === 'markdown') return renderMarkdown(plan, undefined, now).join('\n')
  return renderText(plan, {color, now})
}
