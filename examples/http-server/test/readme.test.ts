/**
 * The root README's "## Try the HTTP API" walk-through, run as written: its shell blocks are executed by bash, with
 * curl, against a live demo server (only the port differs), and each command's answer is compared with the `# →`
 * line the README shows under it (`…` stands for any text).
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { useDemoServer } from "./support.ts";

const run = promisify(execFile);
const readme = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");
const README_URL = "http://127.0.0.1:3000";

/** The section's text, up to the next `## ` heading. */
function section(title: string): string {
  const start = readme.indexOf(`\n${title}\n`);
  expect(start, `README has a "${title}" section`).toBeGreaterThan(0);
  const end = readme.indexOf("\n## ", start + title.length + 2);
  return readme.slice(start, end === -1 ? undefined : end);
}

/** The ```sh blocks of a text. */
function shellBlocks(text: string): string[] {
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

interface Step {
  command: string;
  expected: string;
}

/** Turns the blocks into one bash script that prints a marker after each command with an expected answer. */
function instrument(blocks: string[]): { script: string; steps: Step[] } {
  const steps: Step[] = [];
  const out: string[] = ["set -eo pipefail"];
  let command = "";
  let continued = false;
  for (const line of blocks.join("\n").split("\n")) {
    const expected = /^# → (.*)$/.exec(line)?.[1];
    if (expected !== undefined) {
      expect(command, `a "# →" line follows a command: ${line}`).not.toBe("");
      steps.push({ command, expected });
      out.push(`printf '\\n@@step ${steps.length}@@\\n'`);
      continue;
    }
    out.push(line);
    if (continued) command += `\n${line}`;
    else if (line.trim() !== "" && !line.trim().startsWith("#")) command = line;
    continued = line.endsWith("\\");
  }
  return { script: out.join("\n"), steps };
}

/** A `# →` line as a pattern: literal text, `…` matching anything. */
function pattern(expected: string): RegExp {
  const parts = expected.split("…").map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join(".*")}$`, "s");
}

const { url, logged } = useDemoServer();

it("`pnpm serve` starts the server the walk-through talks to, on the README's address", () => {
  const text = section("## Try the HTTP API");
  const [serve, ...rest] = shellBlocks(text);
  expect(serve?.trim()).toMatch(/^pnpm serve\b/);
  expect(rest.length).toBeGreaterThanOrEqual(2);
  expect(text).toContain(`S=${README_URL}/acme/v2`);
  expect(text).toMatch(/demo only/i);
});

it("the walk-through (create, list, accept, read, delete) and the email story answer as the README shows", async () => {
  const [, ...blocks] = shellBlocks(section("## Try the HTTP API"));
  const { script, steps } = instrument(blocks);
  // Every verb of the walk-through is there.
  for (const fragment of [
    "curl -s -X POST $S/c_patient_files/$FILE/connections",
    'curl -s "$S/connections?state=0"',
    "curl -s -X POST $S/connections/$TOKEN",
    "curl -s $S/connections/$ID",
    "curl -s -X DELETE $S/connections/$ID",
  ]) {
    expect(script).toContain(fragment);
  }

  const { stdout, stderr } = await run("bash", ["-c", script.replaceAll(README_URL, url())], {
    timeout: 30_000,
    env: { ...process.env, LC_ALL: "C.UTF-8" },
  });
  expect(stderr).toBe("");
  const answers = stdout.split(/\n@@step \d+@@\n/);
  expect(answers).toHaveLength(steps.length + 1); // nothing after the last marker
  expect(answers.at(-1)).toBe("");
  for (const [i, step] of steps.entries()) {
    const answer = (answers[i] as string).trimEnd().split("\n").at(-1) as string; // its answer: the last line
    expect(answer, `step ${i + 1}: ${step.command}`).toMatch(pattern(step.expected));
  }
  // What the server printed: one notice per invitation, tokens hidden.
  expect(logged).toEqual([
    expect.stringMatching(
      /^\[conn\] notice invite-existing-user to bob@acme\.example .*accept=\S+\/<token>$/,
    ),
    expect.stringMatching(
      /^\[conn\] notice invite-new-user to dan@elsewhere\.example .*accept=\S+\/<token>$/,
    ),
  ]);
}, 60_000);
