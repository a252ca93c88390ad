/**
 * The demo server's world, loaded from a JSON fixture: orgs, accounts, objects and who holds what access to which
 * instance. Parsed with zod, cross-checked, and refused with a {@link FixtureError} naming every problem.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import {
  accessLevelSchema,
  emailSchema,
  hostIdSchema,
  nameSchema,
  objectNameSchema,
  orgSchema,
} from "@conn/core";
import { z } from "zod";

/** The fixture `pnpm serve` loads when `CONN_FIXTURE` is not set: Alice, Bob and Carol of the seed. */
export const DEFAULT_FIXTURE = fileURLToPath(new URL("../fixtures/demo.json", import.meta.url));

/** The object name an instance uses to give access to an account (docs/behaviour.md §5, `auto` connections). */
export const ACCOUNT_OBJECT = "account";

const orgFixtureSchema = z
  .object({
    code: orgSchema,
    name: z.string().min(1),
    /** Days; the library clamps it to 1..90 (docs/behaviour.md §4). */
    pendingConnectionExpiry: z.number().optional(),
    connectionUrl: z.url().optional(),
  })
  .strict();

/** An email as core stores it (trimmed, lower-cased), refused with a short message rather than core's pattern. */
export const friendlyEmailSchema = z.string().transform((s, ctx) => {
  const parsed = emailSchema.safeParse(s);
  if (parsed.success) return parsed.data;
  ctx.addIssue({ code: "custom", message: `must be an email address, got "${s}"` });
  return z.NEVER;
});

const accountFixtureSchema = z
  .object({
    org: orgSchema,
    _id: hostIdSchema,
    email: friendlyEmailSchema,
    name: nameSchema,
    verified: z.boolean(),
  })
  .strict();

const objectFixtureSchema = z
  .object({
    org: orgSchema,
    name: objectNameSchema.refine((n) => n !== ACCOUNT_OBJECT, `"${ACCOUNT_OBJECT}" is built in`),
    plural: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9_-]+$/, "letters, digits, '_' and '-' only"),
    allowConnections: z.boolean(),
    requireAccept: z.boolean().optional(),
    sendNotifications: z.boolean().optional(),
    requiredAccess: accessLevelSchema.optional(),
    shareChain: z.array(accessLevelSchema).min(1).optional(),
  })
  .strict();

const instanceFixtureSchema = z
  .object({
    org: orgSchema,
    object: objectNameSchema,
    _id: hostIdSchema,
    /** Each account's own access to the instance, by account `_id` (an owner holds 7). */
    access: z.record(hostIdSchema, accessLevelSchema),
  })
  .strict();

/** The fixture file: `{ orgs, accounts, objects, instances }`, every reference checked against the others. */
export const fixtureSchema = z
  .object({
    orgs: z.array(orgFixtureSchema).min(1),
    accounts: z.array(accountFixtureSchema),
    objects: z.array(objectFixtureSchema),
    instances: z.array(instanceFixtureSchema),
  })
  .strict()
  .superRefine((f, ctx) => {
    const problem = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path, message });
    const orgs = new Set<string>();
    f.orgs.forEach((o, i) => {
      if (orgs.has(o.code)) problem(["orgs", i, "code"], `duplicate org ${o.code}`);
      orgs.add(o.code);
    });
    const knownOrg = (org: string, path: (string | number)[]) => {
      if (!orgs.has(org)) problem(path, `unknown org ${org} (not in "orgs")`);
    };

    const accountIds = new Set<string>();
    const emails = new Set<string>();
    f.accounts.forEach((a, i) => {
      knownOrg(a.org, ["accounts", i, "org"]);
      if (accountIds.has(`${a.org}/${a._id}`)) problem(["accounts", i, "_id"], `duplicate account ${a._id}`);
      if (emails.has(`${a.org}/${a.email}`)) problem(["accounts", i, "email"], `duplicate email ${a.email}`);
      accountIds.add(`${a.org}/${a._id}`);
      emails.add(`${a.org}/${a.email}`);
    });

    const objects = new Set<string>();
    const plurals = new Set<string>();
    f.objects.forEach((o, i) => {
      knownOrg(o.org, ["objects", i, "org"]);
      if (objects.has(`${o.org}/${o.name}`)) problem(["objects", i, "name"], `duplicate object ${o.name}`);
      if (plurals.has(`${o.org}/${o.plural}`))
        problem(["objects", i, "plural"], `duplicate plural ${o.plural}`);
      objects.add(`${o.org}/${o.name}`);
      plurals.add(`${o.org}/${o.plural}`);
    });

    const instances = new Set<string>();
    f.instances.forEach((inst, i) => {
      knownOrg(inst.org, ["instances", i, "org"]);
      if (inst.object === ACCOUNT_OBJECT) {
        if (!accountIds.has(`${inst.org}/${inst._id}`)) {
          problem(["instances", i, "_id"], `unknown account ${inst._id} (not in "accounts" of ${inst.org})`);
        }
      } else if (!objects.has(`${inst.org}/${inst.object}`)) {
        problem(
          ["instances", i, "object"],
          `unknown object ${inst.object} (not in "objects" of ${inst.org})`,
        );
      }
      const key = `${inst.org}/${inst.object}/${inst._id}`;
      if (instances.has(key))
        problem(["instances", i, "_id"], `duplicate instance ${inst.object} ${inst._id}`);
      instances.add(key);
      for (const account of Object.keys(inst.access)) {
        if (!accountIds.has(`${inst.org}/${account}`)) {
          problem(
            ["instances", i, "access", account],
            `unknown account ${account} (not in "accounts" of ${inst.org})`,
          );
        }
      }
    });
  });

/** A parsed fixture. */
export type Fixture = z.output<typeof fixtureSchema>;

/** One account of a fixture. */
export type FixtureAccount = Fixture["accounts"][number];

/** A fixture that cannot be used; the message names the file and every problem with its path. */
export class FixtureError extends Error {
  /** Each problem, e.g. `accounts[1].email: Invalid string: must match pattern …`. */
  readonly problems: string[];

  constructor(source: string, problems: string[]) {
    super(`Invalid fixture ${source}: ${problems.join("; ")}`);
    this.name = "FixtureError";
    this.problems = problems;
  }
}

/** `["accounts", 1, "email"]` → `accounts[1].email`. */
function pathText(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path)
    text += typeof part === "number" ? `[${part}]` : `${text === "" ? "" : "."}${String(part)}`;
  return text === "" ? "(the whole fixture)" : text;
}

/** Parses fixture JSON (already decoded); `source` names it in errors. */
export function parseFixture(input: unknown, source = "fixture"): Fixture {
  const parsed = fixtureSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new FixtureError(
    source,
    parsed.error.issues.map((issue) => `${pathText(issue.path)}: ${issue.message}`),
  );
}

/** Reads and parses a fixture file. */
export async function loadFixture(path: string): Promise<Fixture> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FixtureError(path, [code === "ENOENT" ? "no such file" : `cannot read it (${String(error)})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FixtureError(path, [`not valid JSON (${(error as Error).message})`]);
  }
  return parseFixture(json, path);
}
