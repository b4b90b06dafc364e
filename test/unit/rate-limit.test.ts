import {describe, expect, it} from 'vitest'
import {rateLimitPrefix, TokenBucket} from '../../src/util/rate-limit.js'

describe('rateLimitPrefix', () => {
  it('groups a resource and its sub-paths, as Palette counts them', () => {
    expect(rateLimitPrefix('/v1/apiKeys/abc/state')).toBe('/v1/apiKeys')
    expect(rateLimitPrefix('/v1/apiKeys')).toBe('/v1/apiKeys')
    expect(rateLimitPrefix('/v1/users/info?x=1')).toBe('/v1/users')
  })
})

describe('TokenBucket', () => {
  it('allows a burst, then one token per 1/rate seconds (server side)', () => {
    const clock = {t: 0, now: () => clock.t}
    const b = new TokenBucket({ratePerSecond: 10, burst: 5}, clock)
    const taken = Array.from({length: 7}, () => b.tryTake())
    expect(taken).toEqual([true, true, true, true, true, false, false])
    clock.t += 100
    expect([b.tryTake(), b.tryTake()]).toEqual([true, false])
    clock.t += 10_000 // a long quiet period refills only up to the burst
    expect(Array.from({length: 6}, () => b.tryTake()).filter(Boolean)).toHaveLength(5)
  })

  it('is off at rate 0', () => {
    const b = new TokenBucket({ratePerSecond: 0, burst: 1})
    expect(Array.from({length: 100}, () => b.tryTake()).every(Boolean)).toBe(true)
    expect(b.reserve()).toBe(0)
  })

  it('reservations queue into the future (client side)', () => {
    const clock = {t: 0, now: () => clock.t}
    const b = new TokenBucket({ratePerSecond: 10, burst: 1}, clock)
    expect([b.reserve(), b.reserve(), b.reserve()]).toEqual([0, 100, 200])
  })
})

describe('TokenBucket adaptive pacing', () => {
  it('halves the rate after a 429 and creeps back after successes', () => {
    const clock = {t: 0, now: () => clock.t}
    const b = new TokenBucket({ratePerSecond: 10, burst: 1}, clock)
    expect(b.reserve()).toBe(0)
    b.slowDown()
    expect(b.currentRate).toBe(5)
    expect(b.reserve()).toBe(200) // one token at 5/s
    b.slowDown()
    b.slowDown()
    b.slowDown()
    b.slowDown()
    expect(b.currentRate).toBe(0.5)
    for (let i = 0; i < 100; i++) b.speedUp()
    expect(b.currentRate).toBe(10)
  })
})
