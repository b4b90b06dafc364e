import {createServer, type IncomingMessage, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {request} from 'undici'

/** A request as the hostile server saw it. */
export interface SeenRequest {
  method: string
  path: string
  /** The JSON body, parsed ('' when none). */
  body: unknown
  /** Request headers (lower-case names), the ApiKey among them: a hostile server sees the credential. */
  headers: Record<string, string>
}

/** What a hook answers instead of (or after) the real server; undefined leaves it alone. */
export interface Answer {
  status: number
  /** Sent as JSON unless it is a string. */
  body?: unknown
}

export interface HostileHooks {
  /** Answer without forwarding (the real server never sees the request). */
  before?: (req: SeenRequest) => Answer | undefined
  /** The path to forward instead of the one asked for (a server that maps its own made-up names back). */
  forwardPath?: (path: string) => string
  /** Rewrite the real server's answer (`body` is its parsed JSON, or undefined); may wait (to hold one answer for another). */
  after?: (req: SeenRequest, res: {status: number; body: unknown}) => Answer | undefined | Promise<Answer | undefined>
}

export interface HostileProxy {
  url: string
  /** Every request that reached the proxy, in order. */
  seen: SeenRequest[]
  hooks: HostileHooks
  close(): Promise<void>
}

/**
 * A stand-in for a hostile or broken Palette on 127.0.0.1: it forwards every request to a
 * real (emulated) Palette and lets a test rewrite the answer, or answer by itself. Mutations
 * are still counted where they happen: at the emulator behind it.
 */
export async function startHostileProxy(target: string, hooks: HostileHooks = {}): Promise<HostileProxy> {
  const seen: SeenRequest[] = []
  const proxy: HostileProxy = {url: '', seen, hooks, close: async () => undefined}
  const server: Server = createServer((req, res) => {
    void handle(req).then(
      ({status, text}) => {
        res.writeHead(status, text === '' ? {} : {'Content-Type': 'application/json'})
        res.end(text)
      },
      (error: unknown) => {
        res.writeHead(500, {'Content-Type': 'application/json'})
        res.end(JSON.stringify({code: 'ProxyError', message: (error as Error).message}))
      },
    )
  })
  async function handle(req: IncomingMessage): Promise<{status: number; text: string}> {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const raw = Buffer.concat(chunks).toString('utf8')
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection' && k !== 'content-length') headers[k] = v
    const seenReq: SeenRequest = {method: req.method ?? 'GET', path: req.url ?? '/', body: raw === '' ? '' : JSON.parse(raw), headers}
    seen.push(seenReq)
    const early = proxy.hooks.before?.(seenReq)
    if (early) return encode(early)
    const upstream = await request(target + (proxy.hooks.forwardPath?.(seenReq.path) ?? seenReq.path), {method: seenReq.method as 'GET', headers, body: raw === '' ? undefined : raw})
    const text = await upstream.body.text()
    const body = text === '' ? undefined : (JSON.parse(text) as unknown)
    const late = await proxy.hooks.after?.(seenReq, {status: upstream.statusCode, body})
    return late ? encode(late) : {status: upstream.statusCode, text}
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.keepAliveTimeout = 1000
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  return proxy
}

function encode(a: Answer): {status: number; text: string} {
  // Not recorded for the leak scan: like the emulator's own answers, a create's carries the value on purpose.
  return {status: a.status, text: a.body === undefined ? '' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body)}
}
