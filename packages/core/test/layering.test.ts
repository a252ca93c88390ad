import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = new URL("..", import.meta.url).pathname;
const src = join(root, "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });
}

const sources = files(src).map((path) => ({
  path: path.slice(src.length + 1),
  text: readFileSync(path, "utf8"),
}));

function imports(text: string): string[] {
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']/gm)].map(
    (m) => m[1] as string,
  );
}

describe("@conn/core layering", () => {
  it("has exactly zod, ts-pattern and date-fns as dependencies", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies).sort()).toEqual(["date-fns", "ts-pattern", "zod"]);
  });

  it("imports only its own files and its three dependencies", () => {
    const allowed = /^(\.{1,2}\/|zod$|ts-pattern$|date-fns(\/|$))/;
    const offenders = sources.flatMap((f) =>
      imports(f.text)
        .filter((i) => !allowed.test(i))
        .map((i) => `${f.path}: ${i}`),
    );
    expect(offenders).toEqual([]);
  });

  it("never reads the clock, draws randomness, uses crypto or a DI framework itself", () => {
    const forbidden =
      /Date\.now\(|new Date\(\)|Math\.random\(|crypto\.|tsyringe|reflect-metadata|process\.env|console\./;
    const offenders = sources.filter((f) => forbidden.test(f.text)).map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it("keeps domain free of ports and use cases, and ports free of use cases", () => {
    const offenders = sources.flatMap((f) =>
      imports(f.text)
        .filter(
          (i) =>
            (f.path.startsWith("domain/") && /\/(ports|application)\//.test(`/${i}`)) ||
            (f.path.startsWith("ports/") && /application\//.test(i)),
        )
        .map((i) => `${f.path}: ${i}`),
    );
    expect(offenders).toEqual([]);
  });

  it("gives every export a doc comment", () => {
    const missing = sources.flatMap((f) => {
      const lines = f.text.split("\n");
      return lines.flatMap((line, i) => {
        if (
          !/^export (const|function|class|interface|async function|abstract class|type [A-Za-z_])/.test(line)
        )
          return [];
        let j = i - 1;
        while (j >= 0 && /^\s*(@|\/\/)/.test(lines[j] as string)) j--;
        return /\*\/\s*$/.test(lines[j] ?? "") ? [] : [`${f.path}:${i + 1} ${line.slice(0, 60)}`];
      });
    });
    expect(missing).toEqual([]);
  });

  it("keeps every function at most 80 lines, so decisions stay small enough to read and test", () => {
    expect(sources.flatMap((f) => longFunctions(f.path, f.text))).toEqual([]);
  });

  it("the function-length check finds a long function (so it can fail)", () => {
    const body = Array.from({ length: MAX_FUNCTION_LINES }, (_, i) => `  const v${i} = ${i};`).join("\n");
    expect(longFunctions("x.ts", `const f = () => {\n${body}\n};`)).toEqual([
      `x.ts:1 (${MAX_FUNCTION_LINES + 2} lines)`,
    ]);
  });
});

/** The longest function @conn/core allows, in lines from its first token to its closing brace. */
const MAX_FUNCTION_LINES = 80;

/** The functions (of any kind, nested too) of a source file longer than {@link MAX_FUNCTION_LINES}. */
function longFunctions(path: string, text: string): string[] {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body !== undefined) {
      const first = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const lines = file.getLineAndCharacterOfPosition(node.end).line - first + 1;
      if (lines > MAX_FUNCTION_LINES) found.push(`${path}:${first + 1} (${lines} lines)`);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}
