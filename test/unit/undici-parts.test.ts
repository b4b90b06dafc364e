import * as entry from 'undici'
import {describe, expect, it} from 'vitest'
import {Agent, EnvHttpProxyAgent, request} from '../../src/palette/undici.js'

/** src/palette/undici.ts loads undici's parts from its files, not its entry (start-up): they must be the entry's. */
describe('the parts of undici palette-keys loads', () => {
  it('are the very classes undici exports, and request works through any dispatcher, the query kept', async () => {
    expect(Agent).toBe(entry.Agent)
    expect(EnvHttpProxyAgent).toBe(entry.EnvHttpProxyAgent)
    const mock = new entry.MockAgent()
    mock.disableNetConnect()
    mock.get('https://palette.test').intercept({path: '/v1/users/meta?limit=5', method: 'GET'}).reply(200, {ok: true})
    const res = await request('https://palette.test/v1/users/meta?limit=5', {method: 'GET', dispatcher: mock})
    expect(res.statusCode).toBe(200)
    expect(await res.body.json()).toEqual({ok: true})
    await mock.close()
  })
})
