import {expect} from 'vitest'
import {paletteSpec} from '../../src/contract/spec.js'

/**
 * Asserts that one HTTP exchange matches the official spec: a 2xx status must be one the
 * operation declares, with a body valid against its schema (or no body where it declares
 * none); an error must carry a v1Error body with a code and a message.
 */
export function expectResponseConforms(method: string, path: string, status: number, text: string): void {
  const op = paletteSpec().operation(method, path)
  expect(op, `${method} ${path} is not in the spec`).toBeDefined()
  if (status >= 200 && status < 300) {
    expect(op!.responses.has(status), `${method} ${op!.template} answered ${status}, spec declares ${[...op!.responses.keys()].join(',')}`).toBe(true)
    const validate = op!.responses.get(status)
    if (validate === null) {
      expect(text, `${method} ${op!.template} ${status} must have no body`).toBe('')
      return
    }
    const body = JSON.parse(text) as unknown
    expect(validate!(body), `${method} ${op!.template} ${status}: ${JSON.stringify(validate!.errors)}`).toBe(true)
    return
  }
  const body = JSON.parse(text) as {code?: unknown; message?: unknown}
  const v1Error = paletteSpec().definition('v1Error')
  expect(v1Error(body), `${method} ${path} ${status} error body: ${JSON.stringify(v1Error.errors)}`).toBe(true)
  expect(typeof body.code).toBe('string')
  expect(typeof body.message).toBe('string')
}

/** Asserts a request body the client sent is valid for the operation's body parameter. */
export function expectRequestConforms(method: string, path: string, body: unknown): void {
  const op = paletteSpec().operation(method, path)
  expect(op, `${method} ${path} is not in the spec`).toBeDefined()
  if (op!.body === undefined) {
    expect(body, `${method} ${op!.template} takes no body`).toBeUndefined()
    return
  }
  expect(op!.body(body), `${method} ${op!.template} request: ${JSON.stringify(op!.body.errors)}`).toBe(true)
}
