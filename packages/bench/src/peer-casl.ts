import { createMongoAbility, type MongoAbility, subject } from "@casl/ability";
import { accessLevelName } from "@conn/core";
import { type AccessQuery, ids, OBJECT, rowOf } from "./dataset.js";
import type { DataSetSize } from "./options.js";

/** `@casl/ability` on the warm data set's grants: one ability per account, as CASL is used (built per user). */
export interface CaslPeer {
  /** Each account's ability: a rule `can(level, "c_file", { _id: context })` per grant of the account. */
  abilities: Map<string, MongoAbility>;
  /** Grants loaded. */
  grants: number;
}

/** Loads the same grants the adapters hold (the same pairs and levels), a rule per grant, grouped by account. */
export function loadCasl(size: DataSetSize): CaslPeer {
  const rules = new Map<string, { action: string; subject: string; conditions: { _id: string } }[]>();
  for (let i = 0; i < size.connections; i++) {
    const row = rowOf(i, size);
    const account = ids.account(row.account);
    let list = rules.get(account);
    if (list === undefined) {
      list = [];
      rules.set(account, list);
    }
    list.push({
      action: accessLevelName[row.access],
      subject: OBJECT,
      conditions: { _id: ids.context(row.context) },
    });
  }
  const abilities = new Map<string, MongoAbility>();
  for (const [account, list] of rules) abilities.set(account, createMongoAbility(list));
  return { abilities, grants: size.connections };
}

/**
 * A check as a CASL host makes it: the caller's ability, then `can(level, subject)`. The subject objects are made
 * once per query, outside the timing (a host checks a record it already loaded). Answers true or false, like
 * casbin's `enforce`: "does this account hold exactly this level on this context".
 */
export function caslCheck(peer: CaslPeer, queries: readonly AccessQuery[]): () => boolean {
  const subjects = queries.map((q) => subject(OBJECT, { _id: q.context._id }));
  const names = queries.map((q) => accessLevelName[q.expected ?? 4]);
  const empty = createMongoAbility([]);
  let n = 0;
  return () => {
    const i = n++ % queries.length;
    const q = queries[i] as AccessQuery;
    return (peer.abilities.get(q.account) ?? empty).can(names[i] as string, subjects[i] as object);
  };
}
