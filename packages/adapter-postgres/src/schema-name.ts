import { ConnectionError } from "@conn/core";

/** The schema the adapter's tables live in when no schema is given. */
export const DEFAULT_SCHEMA = "public";

/** Options every Postgres adapter takes. */
export interface PostgresAdapterOptions {
  /** The schema holding the adapter's tables (default `public`): lower-case letters, digits and `_`, 1..63 long. */
  schema?: string | undefined;
}

/** Checks a schema name and returns it double-quoted for use in SQL; throws on a name that is not plain. */
export function quoteSchema(schema: string = DEFAULT_SCHEMA): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new ConnectionError("cortex.invalidArgument.unspecified", {
      reason: `schema name must be 1..63 lower-case letters, digits or '_' and not start with a digit: ${JSON.stringify(schema)}`,
      path: "schema",
    });
  }
  return `"${schema}"`;
}

/** The statement texts that go as named prepared statements; every other statement is planned on every call. */
const preparedOnce = new Set<string>();

/**
 * Whether `text` goes as a named prepared statement (parsed and planned once per pooled connection, then kept on a
 * generic plan), rather than unnamed and planned on every call. See {@link statementsBySchema}.
 */
export function isPreparedOnce(text: string): boolean {
  return preparedOnce.has(text);
}

/** Every statement text prepared once so far, of every schema built (for the generic-plan test). */
export function preparedOnceStatements(): string[] {
  return [...preparedOnce];
}

/** The keys of `S` whose values are statement texts. */
export type StatementKey<S> = { [K in keyof S]: S[K] extends string ? K : never }[keyof S];

/**
 * Memoizes the SQL statements of a schema: `build` runs once per quoted schema name, so statement texts stay
 * identical between calls. The statements named in `prepareOnce` go as named prepared statements; the rest are
 * planned on every call. A generic plan is made on a connection's sixth call from what the tables looked like then
 * (on a new schema: empty, every index one page, every estimate one row, so any index led by `org` may win) and, with
 * no ANALYZE (autovacuum off), nothing replans it: only statements whose generic plan on empty tables is checked
 * (test/generic-plans.test.ts) are prepared once.
 */
export function statementsBySchema<S>(
  build: (quotedSchema: string) => S,
  prepareOnce: readonly StatementKey<S>[] = [],
): (schema: string | undefined) => S {
  const cache = new Map<string, S>();
  return (schema) => {
    const quoted = quoteSchema(schema);
    let built = cache.get(quoted);
    if (built === undefined) {
      built = build(quoted);
      for (const key of prepareOnce) preparedOnce.add(built[key] as string);
      cache.set(quoted, built);
    }
    return built;
  };
}
