/**
 * Which build of the library the bench measures. `pnpm bench` measures the packages as built for npm (`dist/`, what a
 * host imports); the tests run the bench on the TypeScript sources (the `@conn/source` condition). The two differ: tsx
 * compiles each source file with esbuild's `keepNames`, which wraps every function and closure made at run time in a
 * call that sets its name, and the published bundle does not.
 */
import { readdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** Set by `pnpm bench` (src/main.ts): the library is imported from the built packages. */
export const BUILT_ENV = "CONN_BENCH_BUILT";

/** True when this process imports the library's built packages (see {@link BUILT_ENV}). */
export function measuresBuilt(): boolean {
  return process.env[BUILT_ENV] === "1";
}

/** True when `@conn/core`, as this process resolves it, is the built package (not its sources). For `pnpm bench`. */
export function resolvesToBuilt(): boolean {
  return import.meta.resolve("@conn/core").includes("/dist/");
}

/** The flags a child process of the bench takes to import the same build of the library as this one. */
export function childConditions(): string[] {
  return measuresBuilt() ? [] : ["--conditions=@conn/source"];
}

/** The workspace packages the bench imports. */
const PACKAGES = ["@conn/core", "@conn/adapter-memory", "@conn/adapter-postgres", "@conn/http"] as const;

/** The newest modification time of a file under `dir` (0 when there is none). */
async function newest(dir: string): Promise<number> {
  let latest = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    latest = Math.max(latest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return latest;
}

/**
 * Refuses to measure built packages older than their sources: a bench of a stale `dist/` would report figures of code
 * that is no longer there. `pnpm bench` (the root script) builds first.
 */
export async function assertBuiltIsCurrent(): Promise<void> {
  const require = createRequire(import.meta.url);
  for (const name of PACKAGES) {
    const root = dirname(require.resolve(`${name}/package.json`));
    const built = await stat(join(root, "dist", "index.js")).then(
      (s) => s.mtimeMs,
      () => null,
    );
    const sources = await newest(join(root, "src"));
    if (built === null || built < sources) {
      throw new Error(
        `${name}: its dist/ is ${built === null ? "missing" : "older than its src/"}; the bench measures the built packages. Run \`pnpm build\` (the root \`pnpm bench\` builds first).`,
      );
    }
  }
}
