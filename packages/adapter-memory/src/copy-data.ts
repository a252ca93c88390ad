/**
 * A deep copy of plain data (what a notice or an outbox row is: objects, arrays, dates and primitives) that shares
 * nothing with the original. The same result as `structuredClone` for such data, several times faster: every
 * create, claim and delivery copies its notices. Anything else inside (a Map, a class instance) is copied by
 * `structuredClone`, which keeps its rules for it.
 */
export function copyData<T>(value: T): T {
  return copy(value) as T;
}

function copy(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Date) return new Date(value.getTime());
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = copy(value[i]);
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return structuredClone(value);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = copy((value as Record<string, unknown>)[key]);
    // An own "__proto__" key stays a key (an assignment would set the copy's prototype instead).
    if (key === "__proto__")
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out;
}
