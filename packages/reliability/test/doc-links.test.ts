/**
 * Every Markdown link in the repository stays in it: a relative link names a file or folder that exists (and, with
 * an anchor into a Markdown file, a heading of that file), and no link points at a path outside the repository
 * (`/work/…`, `shared/…`, or `../` past the root). Links to web sites are left alone.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const markdown = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.md"], {
  cwd: root,
  encoding: "utf8",
})
  .split("\n")
  .filter((f) => f !== "" && existsSync(join(root, f)));

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, "")
    .replace(/[^\p{L}\p{N} -]/gu, "")
    .replace(/ /g, "-");
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] as string)));
}

/** The link targets of a Markdown file, code blocks and inline code left out. */
function linksOf(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string);
}

describe("Markdown links stay in the repository", () => {
  it("finds the Markdown files", () => {
    expect(markdown).toContain("README.md");
    expect(markdown).toContain("docs/behaviour.md");
  });

  it("no link leaves the repository, and every relative link resolves", () => {
    const problems: string[] = [];
    for (const file of markdown) {
      const path = join(root, file);
      for (const link of linksOf(readFileSync(path, "utf8"))) {
        if (/^(https?:|mailto:)/.test(link)) continue;
        if (/(^|\/)shared\//.test(link) || link.startsWith("/")) {
          problems.push(`${file}: ${link} points outside the repository`);
          continue;
        }
        const [target = "", anchor] = link.split("#");
        const resolved = target === "" ? path : resolve(dirname(path), decodeURIComponent(target));
        if (relative(root, resolved).startsWith("..")) {
          problems.push(`${file}: ${link} leaves the repository`);
        } else if (!existsSync(resolved)) {
          problems.push(`${file}: ${link} names no file`);
        } else if (anchor !== undefined && resolved.endsWith(".md") && statSync(resolved).isFile()) {
          if (!anchorsOf(resolved).has(anchor)) problems.push(`${file}: ${link} names no heading`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("nothing cites the spec by section: the behaviour reference is docs/behaviour.md", () => {
    const files = execFileSync(
      "git",
      ["ls-files", "--cached", "--others", "--exclude-standard", "*.md", "*.ts", "*.json"],
      { cwd: root, encoding: "utf8" },
    )
      .split("\n")
      .filter((f) => f !== "" && existsSync(join(root, f)));
    const citing = files.filter((f) => /\bspec §\d|shared\/spec/.test(readFileSync(join(root, f), "utf8")));
    expect(citing).toEqual([]);
  });
});
