import {createServer, type Server} from 'node:http'
import {type AddressInfo, connect, type Socket} from 'node:net'

export interface ConnectProxy {
  url: string
  /** `host:port` of every tunnel asked for, in order. */
  tunnels: string[]
  close(): Promise<void>
}

/**
 * A corporate proxy on 127.0.0.1: it only tunnels (HTTP CONNECT) and refuses plain requests,
 * as mandatory proxies do. Every tunnel goes to 127.0.0.1 whatever host was asked for, so a
 * test can name a host that exists nowhere but behind this proxy.
 */
export async function startConnectProxy(): Promise<ConnectProxy> {
  const tunnels: string[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((_req, res) => {
    res.writeHead(405)
    res.end('this proxy only tunnels (CONNECT)\n')
  })
  server.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '')
    const port = Number((req.url ?? '').split(':').pop())
    const upstream = connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => s.destroy())
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tunnels,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
