/** SQL of the outbox shared by its statements and the routine of a migration. */
import { jsonbRoutine, textLiteral } from "./sql-text.js";

/**
 * The outbox's enqueue: the messages of a jsonb array (`rows`, by default the parameter `$1`) of `{ id, org, notice,
 * available_at }`, inserted.
 */
export function enqueueQuery(s: string, rows = "$1::jsonb"): string {
  return `INSERT INTO ${s}.connection_outbox (id, org, notice, available_at)
      SELECT x.id, x.org, x.notice, x.available_at
      FROM jsonb_to_recordset(${rows}) AS x(id text, org text, notice jsonb, available_at timestamptz)`;
}

/** The name of the enqueue routine (migration 41) in schema `s`. */
export function enqueueRoutine(s: string): string {
  return `${s}.conn_enqueue`;
}

/**
 * The enqueue routine (migration 41): {@link enqueueQuery} with its one argument. A transaction's enqueue calls it with
 * the messages as a literal in the round trip of its COMMIT (`Queryable.atCommit`): the routine's plan is made once
 * per session, where the same INSERT sent as a literal is planned again on every call.
 */
export function enqueueRoutineDefinition(s: string): string {
  return jsonbRoutine(enqueueRoutine(s), "", `${enqueueQuery(s)};`);
}

/** The call of the enqueue routine with the messages (their JSON) as a literal: a statement without parameters. */
export function enqueueCall(s: string, json: string): string {
  return `SELECT ${enqueueRoutine(s)}(${textLiteral(json)}::jsonb)`;
}
