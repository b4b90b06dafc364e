/** Time source in milliseconds; injectable so tests count instead of timing. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = {now: () => Date.now()}

export interface RateLimitSettings {
  /** Tokens added per second; 0 or less turns the limit off. */
  ratePerSecond: number
  /** Bucket capacity: how many requests may go at once after a quiet period. */
  burst: number
}

/** Palette's documented default for the API-key and user prefixes (NOTES.md, "Rate limits"). */
export const PALETTE_RATE_LIMIT: RateLimitSettings = {ratePerSecond: 10, burst: 5}

/**
 * Palette counts requests per "parent-resource prefix": `/v1/apiKeys/{uid}/state` and
 * `/v1/apiKeys` share one budget. The prefix is the first two path segments.
 */
export function rateLimitPrefix(path: string): string {
  const clean = path.split('?')[0] ?? ''
  const parts = clean.split('/').filter(Boolean)
  return '/' + parts.slice(0, 2).join('/')
}

/**
 * A token bucket. The server side (emulator) uses `tryTake` and rejects when empty; the
 * client side uses `reserve`, which may go into debt so that concurrent callers are
 * paced first-come first-served without polling.
 */
export class TokenBucket {
  private tokens: number
  private last: number
  /** The rate in force: the configured one, lowered after 429s (see `slowDown`). */
  private rate: number

  constructor(
    private readonly settings: RateLimitSettings,
    private readonly clock: Clock = systemClock,
  ) {
    this.tokens = settings.burst
    this.last = clock.now()
    this.rate = settings.ratePerSecond
  }

  /** The server said 429: it allows less than we thought. Halve the rate (not below 0.5/s) and wait for a token. */
  slowDown(): void {
    if (this.unlimited) return
    this.refill()
    this.rate = Math.max(0.5, this.rate / 2)
    this.tokens = Math.min(this.tokens, 0)
  }

  /** A success: creep back towards the configured rate (additive increase). */
  speedUp(): void {
    if (this.unlimited) return
    this.rate = Math.min(this.settings.ratePerSecond, this.rate + this.settings.ratePerSecond / 20)
  }

  get currentRate(): number {
    return this.rate
  }

  get unlimited(): boolean {
    return this.settings.ratePerSecond <= 0
  }

  private refill(): void {
    const now = this.clock.now()
    const elapsed = Math.max(0, now - this.last)
    this.last = now
    this.tokens = Math.min(this.settings.burst, this.tokens + (elapsed * this.rate) / 1000)
  }

  /** Takes a token if one is available now. */
  tryTake(): boolean {
    if (this.unlimited) return true
    this.refill()
    if (this.tokens >= 1) {
      this.tokens -= 1
      return true
    }
    return false
  }

  /** Takes a token now or in the future; returns how many ms to wait before using it. */
  reserve(): number {
    if (this.unlimited) return 0
    this.refill()
    this.tokens -= 1
    if (this.tokens >= 0) return 0
    return Math.ceil((-this.tokens * 1000) / this.rate)
  }
}

/** One bucket per path prefix, created on first use. */
export class PrefixRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>()

  constructor(
    private readonly settings: RateLimitSettings,
    private readonly clock: Clock = systemClock,
  ) {}

  bucket(key: string): TokenBucket {
    let b = this.buckets.get(key)
    if (!b) {
      b = new TokenBucket(this.settings, this.clock)
      this.buckets.set(key, b)
    }
    return b
  }
}
