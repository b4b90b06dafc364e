/** Adds `value` to the list `map` holds for `key`, making the list on first use (Map.groupBy, one value at a time). */
export function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}
