import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);
const dir = fileURLToPath(new URL("..", import.meta.url));
const readme = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");

it("the README's usage snippet runs as written and prints Read, then None", async () => {
  const section = readme.slice(readme.indexOf("## Use it"));
  const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  expect(snippet, "README has a ```ts block under '## Use it'").toBeDefined();
  const file = `${dir}.readme-snippet.ts`;
  writeFileSync(file, snippet as string);
  try {
    // One node process with tsx's loader (`pnpm exec tsx` added a pnpm start and a second node process).
    const { stdout } = await run(process.execPath, ["--import", "tsx", "--conditions=@conn/source", file], {
      cwd: dir,
      timeout: 60_000,
      env: {
        ...process.env,
        CONN_PERSISTENCE: "",
        CONN_DATABASE_URL: "",
        CONN_PGLITE_DIR: "",
        CONN_SES_FROM: "",
      },
    });
    expect(stdout.trim().split("\n")).toEqual(["4", "0 connection"]);
  } finally {
    rmSync(file, { force: true });
  }
}, 60_000);
