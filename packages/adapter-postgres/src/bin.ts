#!/usr/bin/env node
/**
 * `conn-postgres migrate [--schema <name>]` applies the adapter's migrations to the database at `DATABASE_URL`;
 * `conn-postgres outbox list | show | requeue | purge` lists and handles dead letters (see `cli.ts`).
 * Exits 0 when the schema is up to date, 1 on failure, 2 on a usage error.
 */
import { main } from "./cli.js";

process.exitCode = await main(process.argv.slice(2), process.env);
