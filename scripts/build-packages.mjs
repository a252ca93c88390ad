#!/usr/bin/env node
// The JavaScript half of `pnpm build`: after `tsc -b` has checked every package and written its declarations
// (dist/**/*.d.ts), tsup (esbuild) bundles each published package's src/index.ts twice, as ES module
// (dist/index.js) and as CommonJS (dist/index.cjs), and each declaration gets a CommonJS twin (.d.cts, its relative
// imports pointing at .cjs), so `import` and `require()` both find code and types.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { build } from "tsup";

/** Published packages, in no particular order (each build is independent), with extra ESM-only entries. */
const PACKAGES = [
  { dir: "packages/core" },
  { dir: "packages/adapter-memory" },
  { dir: "packages/contract-tests" },
  { dir: "packages/adapter-ses" },
  { dir: "packages/adapter-postgres", esmOnly: ["src/bin.ts"] },
  { dir: "packages/container" },
  { dir: "packages/http" },
  { dir: "packages/opentelemetry" },
];

async function buildPackage({ dir, esmOnly = [] }) {
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  const names = Object.keys({
    ...pkg.dependencies,
    ...pkg.peerDependencies,
    ...pkg.optionalDependencies,
    ...pkg.devDependencies,
  });
  // Every dependency stays an import (sub-paths included): only the package's own sources are bundled.
  const external = names.map((n) => new RegExp(`^${n.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}(/.*)?$`));
  const common = {
    outDir: join(dir, "dist"),
    tsconfig: join(dir, "tsconfig.json"),
    platform: "node",
    target: "node20",
    external,
    dts: false,
    clean: false,
    splitting: false,
    sourcemap: false,
    silent: true,
  };
  await build({ ...common, entry: { index: join(dir, "src/index.ts") }, format: ["esm", "cjs"] });
  for (const entry of esmOnly) {
    const name = entry.replace(/^src\//, "").replace(/\.ts$/, "");
    await build({ ...common, entry: { [name]: join(dir, entry) }, format: ["esm"] });
  }
  await writeCjsDeclarations(join(dir, "dist"));
}

/** Writes x.d.cts beside each x.d.ts, its relative `.js` specifiers turned into `.cjs`. */
async function writeCjsDeclarations(dist) {
  for (const entry of await readdir(dist, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".d.ts")) continue;
    const file = join(entry.parentPath, entry.name);
    const text = await readFile(file, "utf8");
    const cjs = text
      .replace(/((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']*?)\.js(["'])/g, "$1$2.cjs$3")
      .replace(/\n\/\/# sourceMappingURL=.*$/m, "");
    await writeFile(file.replace(/\.d\.ts$/, ".d.cts"), cjs);
  }
}

const started = Date.now();
await Promise.all(PACKAGES.map(buildPackage));
console.log(`built ${PACKAGES.length} packages as ESM + CommonJS in ${Date.now() - started} ms`);
