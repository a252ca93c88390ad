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

/**
 * Memoizes the SQL statements of a schema: `build` runs once per quoted schema name, so statement texts stay
 * identical between calls (and node-postgres can reuse them).
 */
export function statementsBySchema<S>(build: (quotedSchema: string) => S): (schema: string | undefined) => S {
  const cache = new Map<string, S>();
  return (schema) => {
    const quoted = quoteSchema(schema);
    let built = cache.get(quoted);
    if (built === undefined) {
      built = build(quoted);
      cache.set(quoted, built);
    }
    return built;
  };
}
