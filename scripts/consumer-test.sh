#!/usr/bin/env bash
# The consumer test: what a new user gets from npm. Packs every published package (after `pnpm build`), installs
# the tarballs with npm into a temp project OUTSIDE the workspace (a default `npm init -y`, CommonJS), then:
#   - the install of @conn/container for an in-memory app stays within 40 MB, and no tarball holds build leftovers;
#   - the README's "Use it" snippet, unchanged, type-checks (nodenext, skipLibCheck off) and runs as ESM (.mts) and
#     as CommonJS (.cts), printing Read then None;
#   - a CommonJS host with UUID ids goes create → accept → resolveAccess → delete, and a configured adapter that is
#     not installed fails naming the package.
# Offline-friendly: npm runs with --prefer-offline on the shared npm cache. Any failure exits non-zero.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
started=$(date +%s)
work="$(mktemp -d /tmp/conn-consumer.XXXXXX)"
[ -n "${CONN_CONSUMER_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tarballs" "$work/app"

echo "== packing the published packages"
for dir in "$repo"/packages/*/; do
  if node -e 'process.exit(require(process.argv[1]).private ? 1 : 0)' "$dir/package.json"; then
    (cd "$dir" && pnpm pack --pack-destination "$work/tarballs" >/dev/null) &
  fi
done
wait
echo "   $(ls "$work"/tarballs | wc -l) tarballs ($(( $(date +%s) - started )) s)"
for tgz in "$work"/tarballs/*.tgz; do
  listing="$(tar tzf "$tgz")"
  if echo "$listing" | grep -E '\.tsbuildinfo$|/test/|\.test\.ts$|/node_modules/' >/dev/null; then
    echo "build leftovers in $(basename "$tgz"):"; echo "$listing" | grep -E '\.tsbuildinfo$|/test/|\.test\.ts$|/node_modules/'
    exit 1
  fi
  for required in package/LICENSE package/README.md package/dist/index.js package/dist/index.cjs package/dist/index.d.cts; do
    echo "$listing" | grep -qx "$required" || { echo "$(basename "$tgz") lacks $required"; exit 1; }
  done
done

echo "== npm install @conn/container (in memory) into $work/app"
cd "$work/app"
npm init -y >/dev/null
npm install --prefer-offline --no-audit --no-fund --loglevel=error \
  "$work"/tarballs/conn-core-*.tgz "$work"/tarballs/conn-adapter-memory-*.tgz "$work"/tarballs/conn-container-*.tgz
size_kb=$(du -sk node_modules | cut -f1)
echo "   node_modules: $((size_kb / 1024)) MB ($(ls node_modules | tr '\n' ' '))"
[ "$size_kb" -le $((40 * 1024)) ] || { echo "the in-memory install is over 40 MB"; exit 1; }
for heavy in @electric-sql pg @aws-sdk @opentelemetry; do
  [ ! -e "node_modules/$heavy" ] || { echo "an in-memory install brought $heavy"; exit 1; }
done

echo "   installed ($(( $(date +%s) - started )) s)"
echo "== the README snippet as ESM and as CommonJS (type-checked under nodenext)"
node -e '
  const fs = require("node:fs");
  const readme = fs.readFileSync(process.argv[1], "utf8");
  const section = readme.slice(readme.indexOf("## Use it"));
  const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!snippet) throw new Error("README has no ```ts block under ## Use it");
  fs.writeFileSync("snippet.mts", snippet);
  fs.writeFileSync("snippet.cts", snippet);
' "$repo/README.md"
cat > tsconfig.json <<JSON
{
  "compilerOptions": {
    "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "strict": true,
    "skipLibCheck": false, "outDir": "out", "typeRoots": ["$repo/node_modules/@types"], "types": ["node"]
  },
  "files": ["snippet.mts", "snippet.cts"]
}
JSON
"$repo/node_modules/.bin/tsc" -p tsconfig.json
expected=$'4\n0 connection'
for out in out/snippet.mjs out/snippet.cjs; do
  got="$(node "$out")"
  [ "$got" = "$expected" ] || { echo "$out printed:"; echo "$got"; exit 1; }
  echo "   $out: ok"
done

echo "   ($(( $(date +%s) - started )) s)"
echo "== a CommonJS host with UUID ids"
cp "$repo/scripts/consumer/host-uuid.cjs" .
timeout 120 node host-uuid.cjs

echo "consumer test passed in $(( $(date +%s) - started )) s"
