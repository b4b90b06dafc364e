/**
 * Holds new mutations back while a created key's value exists only in memory: the value
 * must be sealed and durable before the next mutation starts (PRODUCT.md §5).
 */
export class SealGate {
  private holders = 0
  private waiters: Array<() => void> = []

  /** Resolves when no unsealed value is held. */
  async idle(): Promise<void> {
    while (this.holders > 0) await new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  enter(): void {
    this.holders++
  }

  leave(): void {
    this.holders--
    if (this.holders === 0) {
      const waiting = this.waiters
      this.waiters = []
      for (const w of waiting) w()
    }
  }
}
