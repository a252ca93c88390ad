/**
 * A library call's own SQL without the library: the round trips one call sent, captured on the pool, then sent again
 * on a raw client with fresh identifiers. Timed next to the call and the write floor, it splits the call's time into
 * what its statements cost the server (and the driver) and what the library adds around them.
 */
import { randomBytes } from "node:crypto";
import { literalText, TEXT_LITERAL, textLiteral } from "@conn/adapter-postgres";
import type pg from "pg";

/** Captures and replays round trips on one pg pool. */
export interface SqlReplay {
  /** The round trips `work` sent through the pool, in order (each the text of one simple query). */
  capture(work: () => Promise<unknown>): Promise<string[]>;
  /** Sends `trips` in order on one client of the pool (a failure rolls back whatever transaction is open). */
  run(trips: readonly string[]): Promise<void>;
}

/** A {@link SqlReplay} on `pool`. Capture refuses statements with parameters: only simple queries replay as text. */
export function poolReplay(pool: pg.Pool): SqlReplay {
  return {
    async capture(work) {
      const trips: string[] = [];
      const restore: (() => void)[] = [];
      const onAcquire = (client: pg.PoolClient): void => {
        const original = client.query;
        const recording = (config: unknown, ...rest: unknown[]): unknown => {
          const values =
            typeof config === "object" && config !== null ? (config as pg.QueryConfig).values : rest[0];
          if (Array.isArray(values) && values.length > 0) {
            throw new Error(
              "replay: the captured call sent a statement with parameters; only simple queries replay",
            );
          }
          trips.push(typeof config === "string" ? config : (config as pg.QueryConfig).text);
          return (original as (...args: unknown[]) => unknown).call(client, config, ...rest);
        };
        client.query = recording as typeof client.query;
        restore.push(() => {
          client.query = original;
        });
      };
      pool.on("acquire", onAcquire);
      try {
        await work();
      } finally {
        pool.off("acquire", onAcquire);
        for (const undo of restore) undo();
      }
      return trips;
    },
    async run(trips) {
      const client = await pool.connect();
      try {
        for (const text of trips) await client.query(text);
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

/** The adapter's literal for a text, either form (see the adapter's `textLiteral`). */
const LITERAL = new RegExp(TEXT_LITERAL, "g");

/** Keys whose values are identifiers a replay must not repeat (ids, the context, the token's hash). */
const IDENTIFIER_KEYS: ReadonlySet<string> = new Set(["id", "expected_id", "context_id", "token_hash"]);

function walk(value: unknown, visit: (key: string, text: string) => void, key = ""): void {
  if (typeof value === "string") visit(key, value);
  else if (Array.isArray(value)) for (const item of value) walk(item, visit, key);
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) walk(v, visit, k);
  }
}

function replaceStrings(value: unknown, fresh: ReadonlyMap<string, string>): unknown {
  if (typeof value === "string") return fresh.get(value) ?? value;
  if (Array.isArray(value)) return value.map((item) => replaceStrings(item, fresh));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceStrings(v, fresh)]));
  }
  return value;
}

/** A random string as long as `old`, hex when `old` is hex, base64url otherwise. */
function freshLike(old: string): string {
  if (/^[0-9a-f]+$/.test(old))
    return randomBytes(Math.ceil(old.length / 2))
      .toString("hex")
      .slice(0, old.length);
  return randomBytes(old.length).toString("base64url").slice(0, old.length);
}

/**
 * A maker of fresh copies of captured round trips: every JSON literal in them (either form of the adapter's `textLiteral`) is decoded, each string that is an
 * identifier (the value of an `id`, `expected_id`, `context_id` or `token_hash` anywhere in them) is replaced
 * wherever it occurs by a random one of the same length and alphabet, the same in every trip, and the literal is
 * encoded again. Throws when the trips hold no identifier (nothing to refresh: the replay would repeat the call).
 */
export function refresher(trips: readonly string[]): { identifiers: readonly string[]; next(): string[] } {
  const decoded = trips.map((text) =>
    [...text.matchAll(LITERAL)].map((m) => JSON.parse(literalText(m[1], m[2])) as unknown),
  );
  const identifiers = new Set<string>();
  for (const literals of decoded) {
    for (const literal of literals) {
      walk(literal, (key, text) => {
        if (IDENTIFIER_KEYS.has(key) && text.length > 0) identifiers.add(text);
      });
    }
  }
  if (identifiers.size === 0)
    throw new Error("replay: the captured round trips hold no identifier to refresh");
  return {
    identifiers: [...identifiers],
    next() {
      const fresh = new Map([...identifiers].map((old) => [old, freshLike(old)]));
      return trips.map((text, t) => {
        let i = 0;
        return text.replace(LITERAL, () => {
          return textLiteral(JSON.stringify(replaceStrings(decoded[t]?.[i++], fresh)));
        });
      });
    },
  };
}
