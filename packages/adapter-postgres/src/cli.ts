/** The `conn-postgres` command line, separate from `bin.ts` so it can be tested without running. */
import { parseArgs as parseNodeArgs } from "node:util";
import type { OutboxEntry, OutboxMessageStatus } from "@conn/core";
import { connectPostgres, type Database } from "./database.js";
import { migrate } from "./migrations.js";
import { PostgresOutbox } from "./postgres-outbox.js";

/** The usage text. */
const USAGE = `usage: conn-postgres migrate [--schema <name>]
       conn-postgres outbox list [--status dead|pending|delivered] [--org <org>] [--limit <n>] [--after <org>/<id>] [--json] [--schema <name>]
       conn-postgres outbox show <id> [--org <org>] [--schema <name>]
       conn-postgres outbox requeue <id>... [--org <org>] [--schema <name>]
       conn-postgres outbox purge <id>... [--org <org>] [--schema <name>]

migrate      applies the @conn/adapter-postgres migrations to the database at CONN_DATABASE_URL
             (e.g. postgres://user@host:5432/db). The schema defaults to "public" and is created
             when missing. Safe to run from several processes at once.
outbox list  lists outbox messages, dead letters by default, in (org, id) order; --after takes the
             last line's org/id to show the next page.
outbox show  prints one message as JSON.
outbox requeue
             puts dead letters back in line, due at once with fresh attempts. An invitation is
             requeued only while its connection is still a pending, unexpired invitation
             (invitationClosed otherwise); an access-ending notice only while its grant still
             ends at the instant it names, after now (grantChanged otherwise).
outbox purge deletes dead letters that have been dealt with.

The database is CONN_DATABASE_URL (DATABASE_URL is still read, with a warning).
No command ever prints a token or a token seal. Exit codes: 0 done, 1 failed (or some ids were
refused), 2 usage error.`;

/** A parsed command line. */
export type Command =
  | { command: "migrate"; schema: string | undefined }
  | {
      command: "outbox list";
      schema: string | undefined;
      status: OutboxMessageStatus;
      org: string | undefined;
      limit: number;
      after: { org: string; id: string } | undefined;
      json: boolean;
    }
  | { command: "outbox show"; schema: string | undefined; id: string; org: string | undefined }
  | {
      command: "outbox requeue" | "outbox purge";
      schema: string | undefined;
      ids: string[];
      org: string | undefined;
    };

const OPTIONS = {
  schema: { type: "string" },
  status: { type: "string" },
  org: { type: "string" },
  limit: { type: "string" },
  after: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Which options each command takes. */
const ALLOWED: Record<string, readonly string[]> = {
  migrate: ["schema"],
  "outbox list": ["schema", "status", "org", "limit", "after", "json"],
  "outbox show": ["schema", "org"],
  "outbox requeue": ["schema", "org"],
  "outbox purge": ["schema", "org"],
};

/** Parses the arguments (with `node:util`'s `parseArgs`); returns the command, or a usage error message. */
export function parseArgs(args: readonly string[]): Command | { error: string } {
  let parsed: ReturnType<typeof parseNodeArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseNodeArgs({ args: [...args], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
  const { values, positionals } = parsed;
  const [first, second, ...rest] = positionals;
  if (first === undefined) return { error: "missing command" };
  const name = first === "outbox" ? `outbox ${second ?? ""}`.trim() : first;
  const allowed = ALLOWED[name];
  if (allowed === undefined) return { error: `unknown command: ${name}` };
  for (const key of Object.keys(values)) {
    if (key !== "help" && !allowed.includes(key)) return { error: `${name} takes no --${key}` };
  }
  const schema = values.schema;
  const org = values.org;
  if (name === "migrate") {
    return second === undefined
      ? { command: "migrate", schema }
      : { error: `unexpected argument: ${second}` };
  }
  if (name === "outbox list") {
    if (rest.length > 0) return { error: `unexpected argument: ${rest[0]}` };
    const status = values.status ?? "dead";
    if (status !== "dead" && status !== "pending" && status !== "delivered")
      return { error: "--status must be dead, pending or delivered" };
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1_000)
      return { error: "--limit must be an integer from 1 to 1000" };
    let after: { org: string; id: string } | undefined;
    if (values.after !== undefined) {
      const cut = values.after.lastIndexOf("/");
      if (cut <= 0 || cut === values.after.length - 1) return { error: "--after must be <org>/<id>" };
      after = { org: values.after.slice(0, cut), id: values.after.slice(cut + 1) };
    }
    return { command: "outbox list", schema, status, org, limit, after, json: values.json === true };
  }
  if (rest.length === 0) return { error: `${name} needs a message id` };
  if (name === "outbox show") {
    if (rest.length > 1) return { error: "outbox show takes one id" };
    return { command: "outbox show", schema, id: rest[0] as string, org };
  }
  return { command: name as "outbox requeue" | "outbox purge", schema, ids: rest, org };
}

/** One line of `outbox list`: no recipient, no token, no seal; the error cut to one line. */
function line(e: OutboxEntry): string {
  const when = (e.lastAttemptAt ?? e.availableAt).toISOString();
  const error = (e.lastError ?? "").replace(/\s+/g, " ").slice(0, 100);
  return [e.org, e.id, e.status, e.notice.kind, `attempts=${e.attempts}`, when, error].join("\t");
}

/** Runs an outbox command; returns the exit code. */
async function outboxCommand(
  db: Database,
  command: Exclude<Command, { command: "migrate" }>,
): Promise<number> {
  const outbox = new PostgresOutbox(db, { schema: command.schema });
  const out = (text: string) => process.stdout.write(`${text}\n`);
  if (command.command === "outbox list") {
    const { status, org, limit, after } = command;
    const entries = await outbox.list({ status, org, limit, after });
    for (const e of entries) out(command.json ? JSON.stringify(e) : line(e));
    if (!command.json) process.stderr.write(`conn-postgres: ${entries.length} ${status} message(s)\n`);
    return 0;
  }
  if (command.command === "outbox show") {
    const entry = await outbox.get(command.id, command.org);
    if (entry === null) {
      process.stderr.write(`conn-postgres: no outbox message ${command.id}\n`);
      return 1;
    }
    out(JSON.stringify(entry, null, 2));
    return 0;
  }
  let refused = 0;
  for (const id of command.ids) {
    const org = command.org ?? (await outbox.get(id))?.org;
    let outcome: string;
    if (org === undefined) outcome = "notFound";
    else if (command.command === "outbox requeue") outcome = await outbox.requeue(org, id, new Date());
    else outcome = (await outbox.purgeDead(org, id)) ? "purged" : "notDead";
    const done = outcome === "requeued" || outcome === "purged";
    if (!done) refused++;
    (done ? process.stdout : process.stderr).write(`${id}: ${outcome}\n`);
  }
  return refused === 0 ? 0 : 1;
}

/**
 * The database's URL: CONN_DATABASE_URL, the name the container reads too. The older DATABASE_URL is still read when
 * CONN_DATABASE_URL is unset, with a warning on stderr.
 */
export function databaseUrl(env: NodeJS.ProcessEnv): string | null {
  if (env.CONN_DATABASE_URL !== undefined && env.CONN_DATABASE_URL !== "") return env.CONN_DATABASE_URL;
  if (env.DATABASE_URL !== undefined && env.DATABASE_URL !== "") {
    process.stderr.write(
      "conn-postgres: warning: DATABASE_URL is deprecated; set CONN_DATABASE_URL instead\n",
    );
    return env.DATABASE_URL;
  }
  return null;
}

/** Runs the command line; returns the exit code. */
export async function main(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const parsed = parseArgs(args);
  if ("error" in parsed) {
    process.stderr.write(`conn-postgres: ${parsed.error}\n${USAGE}\n`);
    return 2;
  }
  const url = databaseUrl(env);
  if (url === null) {
    process.stderr.write("conn-postgres: CONN_DATABASE_URL is not set\n");
    return 2;
  }
  try {
    const db = await connectPostgres({ connectionString: url });
    try {
      if (parsed.command !== "migrate") return await outboxCommand(db, parsed);
      const result = await migrate(db, { schema: parsed.schema });
      const done =
        result.applied.length === 0 ? "already up to date" : `applied ${result.applied.join(", ")}`;
      process.stdout.write(
        `conn-postgres: schema "${result.schema}" at version ${result.version} (${done})\n`,
      );
      return 0;
    } finally {
      await db.close();
    }
  } catch (error) {
    const reason =
      typeof error === "object" && error !== null && "reason" in error && typeof error.reason === "string"
        ? error.reason
        : String(error);
    process.stderr.write(`conn-postgres: ${parsed.command} failed: ${reason}\n`);
    return 1;
  }
}
