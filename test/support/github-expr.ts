/**
 * GitHub Actions expressions (`${{ … }}` and `if:`), the part the example workflow uses, with
 * GitHub's documented semantics: property access on contexts (a missing property is null),
 * string, number, boolean and null literals, `!`, `==`, `!=`, `&&`, `||` (which return an
 * operand, not a boolean), parentheses, and the status functions. Loose equality as GitHub
 * does it: strings compare case-insensitively, and operands of different types are compared
 * as numbers (null 0, booleans 0/1, '' 0, a string its JSON number or NaN). Anything else
 * throws, so a workflow that grows past this subset fails its test instead of being misread.
 */
export type Value = null | boolean | number | string | Value[] | {[k: string]: Value}

export interface ExprContext {
  contexts: Record<string, Value>
  /** Whether a step before this one failed (for success() and failure()). */
  failed: boolean
}

type Token = {t: 'id'; v: string} | {t: 'str'; v: string} | {t: 'num'; v: number} | {t: 'op'; v: string}

function tokenize(src: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < src.length) {
    const c = src[i]!
    if (/\s/.test(c)) {
      i++
    } else if (c === "'") {
      let s = ''
      i++
      for (;;) {
        if (i >= src.length) throw new Error(`unterminated string in ${src}`)
        if (src[i] === "'" && src[i + 1] === "'") {
          s += "'"
          i += 2
        } else if (src[i] === "'") {
          i++
          break
        } else s += src[i++]
      }
      out.push({t: 'str', v: s})
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(src.slice(i))!
      out.push({t: 'num', v: Number(m[0])})
      i += m[0].length
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i))!
      out.push({t: 'id', v: m[0]})
      i += m[0].length
    } else {
      const two = src.slice(i, i + 2)
      if (['==', '!=', '&&', '||'].includes(two)) {
        out.push({t: 'op', v: two})
        i += 2
      } else if ('!().'.includes(c)) {
        out.push({t: 'op', v: c})
        i++
      } else throw new Error(`unsupported character ${JSON.stringify(c)} in expression ${src}`)
    }
  }
  return out
}

const truthy = (v: Value): boolean => !(v === null || v === false || v === 0 || v === '' || (typeof v === 'number' && Number.isNaN(v)))

function toNumber(v: Value): number {
  if (v === null) return 0
  if (typeof v === 'boolean') return v ? 1 : 0
  if (typeof v === 'number') return v
  if (typeof v === 'string') {
    if (v.trim() === '') return 0
    const n = Number(v)
    return /^\s*-?(0x[0-9a-f]+|[0-9.]+(e[+-]?[0-9]+)?)\s*$/i.test(v) ? n : Number.NaN
  }
  return Number.NaN
}

function looseEqual(a: Value, b: Value): boolean {
  if (typeof a === 'string' && typeof b === 'string') return a.toLowerCase() === b.toLowerCase()
  if (typeof a === typeof b && (a === null) === (b === null) && typeof a !== 'object') return a === b
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) return a === b
  return toNumber(a) === toNumber(b)
}

export function evaluate(src: string, ctx: ExprContext): Value {
  const toks = tokenize(src)
  let p = 0
  const peek = () => toks[p]
  const take = (v?: string): Token => {
    const t = toks[p++]
    if (!t || (v !== undefined && t.v !== v)) throw new Error(`expected ${v ?? 'a token'} in expression ${src}`)
    return t
  }
  const or = (): Value => {
    let l = and()
    while (peek()?.v === '||') {
      take()
      const r = and()
      l = truthy(l) ? l : r
    }
    return l
  }
  const and = (): Value => {
    let l = eq()
    while (peek()?.v === '&&') {
      take()
      const r = eq()
      l = truthy(l) ? r : l
    }
    return l
  }
  const eq = (): Value => {
    let l = unary()
    while (peek()?.v === '==' || peek()?.v === '!=') {
      const op = take().v
      const r = unary()
      l = op === '==' ? looseEqual(l, r) : !looseEqual(l, r)
    }
    return l
  }
  const unary = (): Value => {
    if (peek()?.v === '!') {
      take()
      return !truthy(unary())
    }
    return primary()
  }
  const primary = (): Value => {
    const t = take()
    if (t.t === 'op' && t.v === '(') {
      const v = or()
      take(')')
      return v
    }
    if (t.t === 'str' || t.t === 'num') return t.v
    if (t.t !== 'id') throw new Error(`unexpected ${t.v} in expression ${src}`)
    if (t.v === 'true' || t.v === 'false') return t.v === 'true'
    if (t.v === 'null') return null
    if (peek()?.v === '(') {
      take('(')
      take(')')
      switch (t.v) {
        case 'always':
          return true
        case 'success':
          return !ctx.failed
        case 'failure':
          return ctx.failed
        case 'cancelled':
          return false
        default:
          throw new Error(`unsupported function ${t.v}() in expression ${src}`)
      }
    }
    if (!(t.v in ctx.contexts)) throw new Error(`unknown context ${t.v} in expression ${src}`)
    let v: Value = ctx.contexts[t.v]!
    while (peek()?.v === '.') {
      take('.')
      const name = take()
      if (name.t !== 'id') throw new Error(`expected a property name in expression ${src}`)
      v = v !== null && typeof v === 'object' && !Array.isArray(v) && name.v in v ? v[name.v]! : null
    }
    return v
  }
  const value = or()
  if (p !== toks.length) throw new Error(`unexpected ${toks[p]!.v} in expression ${src}`)
  return value
}

/** A value as GitHub puts it into a string (`${{ }}` in env, with or run). */
export function asString(v: Value): string {
  if (v === null) return ''
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

/** A string with each `${{ … }}` replaced by its value. */
export function interpolate(text: string, ctx: ExprContext): string {
  return text.replace(/\$\{\{(.*?)\}\}/gs, (_, e: string) => asString(evaluate(e, ctx)))
}

/** A step's or job's `if:`: implicitly `success() && (…)` unless it calls a status function. */
export function condition(src: string | boolean | undefined, ctx: ExprContext): boolean {
  if (src === undefined) return !ctx.failed
  const text = String(src).trim().replace(/^\$\{\{(.*)\}\}$/s, '$1')
  const statusCalled = /\b(always|success|failure|cancelled)\s*\(/.test(text)
  const v = truthy(evaluate(text, ctx))
  return statusCalled ? v : v && !ctx.failed
}
