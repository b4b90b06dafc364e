import {describe, expect, it} from 'vitest'
import {condition, evaluate, interpolate} from '../support/github-expr.js'

/**
 * The expression subset the workflow harness evaluates, held to GitHub's documented rules
 * (docs.github.com, "Evaluate expressions in workflows and actions": operators, loose equality,
 * status check functions), so a step's `if:` is decided as Actions decides it.
 */
const ctx = (failed = false) => ({failed, contexts: {steps: {plan: {outputs: {exitcode: '2'}, outcome: 'success'}}, github: {event_name: 'push', event: {pull_request: null}}}})

describe('GitHub expressions', () => {
  it('loose equality: strings ignore case; other mixes compare as numbers (null and \'\' are 0)', () => {
    expect(evaluate("'Push' == 'push'", ctx())).toBe(true)
    expect(evaluate("steps.plan.outputs.exitcode == 2", ctx())).toBe(true)
    expect(evaluate("steps.plan.outputs.missing == '0'", ctx())).toBe(true)
    expect(evaluate("steps.plan.outputs.missing != ''", ctx())).toBe(false)
    expect(evaluate("steps.plan.outputs.exitcode != '0'", ctx())).toBe(true)
    expect(evaluate("'abc' == 0", ctx())).toBe(false)
  })

  it('&& and || give an operand, ! a boolean; a missing property is null', () => {
    expect(evaluate("steps.none.outputs.dir || 'sealed'", ctx())).toBe('sealed')
    expect(evaluate("steps.plan.outputs.exitcode && 'x'", ctx())).toBe('x')
    expect(evaluate('!github.event.pull_request', ctx())).toBe(true)
    expect(interpolate('a-${{ steps.plan.outputs.exitcode }}-${{ github.nothing.here }}', ctx())).toBe('a-2-')
  })

  it('if: without a status function is success() && (…); always() runs after a failure', () => {
    expect(condition("github.event_name == 'push'", ctx(true))).toBe(false)
    expect(condition("always() && github.event_name == 'push'", ctx(true))).toBe(true)
    expect(condition('${{ failure() }}', ctx(true))).toBe(true)
    expect(condition(undefined, ctx(true))).toBe(false)
  })

  it('anything outside the subset throws instead of being misread', () => {
    expect(() => evaluate('toJSON()', ctx())).toThrow(/unsupported function/)
    expect(() => evaluate("contains(github.event_name, 'p')", ctx())).toThrow(/unsupported/)
    expect(() => evaluate('github.event_name > 1', ctx())).toThrow(/unsupported character/)
    expect(() => evaluate('matrix.os', ctx())).toThrow(/unknown context/)
  })
})
