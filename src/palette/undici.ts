import {createRequire} from 'node:module'
import type * as Undici from 'undici'

/**
 * The parts of undici palette-keys uses, loaded from undici's own files. Its entry module loads
 * every dispatcher, mock, cache store and interceptor it has: 110 modules, 60 to 90 ms of the
 * start-up of every command that talks to Palette (and of each of the test suite's thousands of
 * such processes). These three load 36. The files are those the entry itself requires; undici's
 * version is pinned exactly, and test/unit/undici-parts.test.ts holds each part to the entry's
 * export of the same name, so an upgrade that moves them fails there, not in use.
 */
const require = createRequire(import.meta.url)

const DispatcherClass = require('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher
// What undici's entry does: the request API (request, stream, ...) as methods of every dispatcher.
Object.assign(DispatcherClass.prototype, require('undici/lib/api/index.js') as object)

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent
export const EnvHttpProxyAgent = require('undici/lib/dispatcher/env-http-proxy-agent.js') as typeof Undici.EnvHttpProxyAgent
export type Dispatcher = Undici.Dispatcher

/** undici's `request(url, options)` for a given dispatcher: its documented `dispatcher.request`, with the URL split into origin and path as the entry splits it. */
export function request(url: string, options: Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path'> & {dispatcher: Undici.Dispatcher}): Promise<Undici.Dispatcher.ResponseData> {
  const {dispatcher, ...rest} = options
  const u = new URL(url)
  return dispatcher.request({...rest, origin: u.origin, path: u.search ? `${u.pathname}${u.search}` : u.pathname})
}

