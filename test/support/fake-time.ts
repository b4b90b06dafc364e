/**
 * A clock that only moves when the code under test sleeps: pacing is counted, never
 * timed. With `advance: false` the clock stands still, as for callers that all start
 * at the same instant.
 */
export function fakeTime(options: {advance?: boolean} = {}) {
  const sleeps: number[] = []
  const clock = {t: 1_000_000, now: () => clock.t}
  return {
    clock,
    sleeps,
    sleep: async (ms: number) => {
      sleeps.push(ms)
      if (options.advance !== false) clock.t += ms
    },
  }
}
