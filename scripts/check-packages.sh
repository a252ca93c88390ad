#!/usr/bin/env bash
# Checks every published package as npm would ship it (after `pnpm build`): publint, and @arethetypeswrong/cli on
# its default profile (node10, node16 from CommonJS and from ESM, bundler). Any problem fails.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for dir in $(node -e '
  const fs = require("node:fs");
  for (const d of fs.readdirSync("packages")) {
    const p = JSON.parse(fs.readFileSync(`packages/${d}/package.json`, "utf8"));
    if (!p.private) console.log(`packages/${d}`);
  }'); do
  echo "== $dir"
  pnpm exec publint --strict "$dir" | grep -v '^Running publint\|^Packing files\|^Linting' || status=1
  pnpm exec attw --pack "$dir" --format ascii --quiet || { echo "attw: problems in $dir"; status=1; }
done
exit "$status"
