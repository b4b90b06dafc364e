// Preloaded into a CLI process (NODE_OPTIONS=--import) to play a machine whose clock is wrong:
// every Date it makes is PALETTE_KEYS_TEST_CLOCK_SHIFT_MS milliseconds off (negative: behind).
// Test support only: the product has no such switch.
const shift = Number(process.env.PALETTE_KEYS_TEST_CLOCK_SHIFT_MS ?? '0')
if (shift !== 0) {
  const RealDate = Date
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + shift)
      else super(...args)
    }
    static now() {
      return RealDate.now() + shift
    }
  }
  globalThis.Date = ShiftedDate
}
