/**
 * The root vitest globalSetup: one line at the start of `pnpm test` saying which suites need a PostgreSQL server
 * and whether they run, and whether the soak runs are on.
 */
export default function banner(): void {
  const pg = process.env.CONN_PG_URL;
  const soak = process.env.CONN_SOAK === "1";
  const server =
    pg !== undefined && pg !== ""
      ? `PostgreSQL suites run on ${pg.replace(/\/\/[^@/]*@/, "//…@")}`
      : process.env.CI === "true"
        ? "PostgreSQL suites need CONN_PG_URL (CI=true: they fail without it)"
        : "PostgreSQL suites (adapter-postgres, container, reliability, bench, the examples' server cases) are skipped: " +
          "set CONN_PG_URL=postgres://postgres@127.0.0.1:5432/<db> to run them";
  const long = soak ? "soak runs on (CONN_SOAK=1)" : "soak runs off (pnpm test:soak)";
  process.stdout.write(`[conn] ${server}; ${long}\n`);
}
