/** The `conn-postgres` command line, separate from `bin.ts` so it can be tested without running. */
import { connectPostgres } from "./database.js";
import { migrate } from "./migrations.js";

/** The usage text. */
const USAGE = `usage: conn-postgres migrate [--schema <name>]

Applies the @conn/adapter-postgres migrations to the database at DATABASE_URL
(e.g. postgres://user@host:5432/db). The schema defaults to "public" and is
created when missing. Safe to run from several processes at once.`;

/** Parses the arguments; returns the schema, or a usage error message. */
export function parseArgs(args: readonly string[]): { schema: string | undefined } | { error: string } {
  const [command, ...rest] = args;
  if (command !== "migrate")
    return { error: command === undefined ? "missing command" : `unknown command: ${command}` };
  let schema: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--schema" && rest[i + 1] !== undefined) {
      schema = rest[i + 1];
      i++;
    } else if (arg?.startsWith("--schema=")) {
      schema = arg.slice("--schema=".length);
    } else {
      return { error: `unknown argument: ${arg}` };
    }
  }
  return { schema };
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
  const url = env.DATABASE_URL;
  if (url === undefined || url === "") {
    process.stderr.write("conn-postgres: DATABASE_URL is not set\n");
    return 2;
  }
  try {
    const db = await connectPostgres({ connectionString: url });
    try {
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
    process.stderr.write(`conn-postgres: migrate failed: ${reason}\n`);
    return 1;
  }
}
