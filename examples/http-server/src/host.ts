/**
 * The demo's host ports over a loaded fixture: what a real host implements over its own tables
 * (docs/host-integration.md). Records are copied on the way in and out, so no caller can change what is stored.
 */
import {
  type AccessLevel,
  type Account,
  type AccountDirectory,
  ConnectionError,
  type ContextAccess,
  type ContextRef,
  type ObjectSettings,
  type OrgDirectory,
  type OrgSettings,
  objectSettingsSchema,
  parseOrgSettings,
} from "@conn/core";
import type { Fixture } from "./fixture.js";

const key = (...parts: string[]) => parts.join("\u0000");

const copy = (a: Account): Account => ({ ...a, name: { ...a.name } });

/** The fixture's accounts, plus the ones registered while the server runs (`POST /{org}/v2/accounts`). */
export class FixtureAccountDirectory implements AccountDirectory {
  private readonly byId = new Map<string, Account>();
  private readonly byEmail = new Map<string, Account>();

  constructor(fixture: Pick<Fixture, "accounts">) {
    for (const { org, ...account } of fixture.accounts) this.add(org, account);
  }

  /** {@inheritDoc AccountDirectory.findByIds} */
  async findByIds(org: string, ids: readonly string[]): Promise<Account[]> {
    return ids.flatMap((id) => {
      const a = this.byId.get(key(org, id));
      return a === undefined ? [] : [copy(a)];
    });
  }

  /** {@inheritDoc AccountDirectory.findByEmails} */
  async findByEmails(org: string, emails: readonly string[]): Promise<Account[]> {
    return emails.flatMap((email) => {
      const a = this.byEmail.get(key(org, email.toLowerCase()));
      return a === undefined ? [] : [copy(a)];
    });
  }

  /**
   * Adds an account to an org; its email is stored lower-cased. An id or email the org already has is refused with
   * `cortex.invalidArgument.unspecified` (path `_id` or `email`).
   */
  add(org: string, account: Account): Account {
    const stored = copy({ ...account, email: account.email.trim().toLowerCase() });
    if (this.byId.has(key(org, stored._id))) {
      throw new ConnectionError("cortex.invalidArgument.unspecified", {
        reason: `an account with id ${stored._id} already exists`,
        path: "_id",
      });
    }
    if (this.byEmail.has(key(org, stored.email))) {
      throw new ConnectionError("cortex.invalidArgument.unspecified", {
        reason: `an account with email ${stored.email} already exists`,
        path: "email",
      });
    }
    this.byId.set(key(org, stored._id), stored);
    this.byEmail.set(key(org, stored.email), stored);
    return copy(stored);
  }

  /** Every account of an org, in the order they were added. */
  list(org: string): Account[] {
    const prefix = key(org, "");
    return [...this.byId.entries()].filter(([k]) => k.startsWith(prefix)).map(([, a]) => copy(a));
  }
}

/** The fixture's objects (their connection settings and plural names) and each account's own access to instances. */
export class FixtureContextAccess implements ContextAccess {
  private readonly access = new Map<string, AccessLevel>();
  private readonly objects = new Map<string, ObjectSettings>();
  private readonly plurals = new Map<string, string>();

  constructor(fixture: Pick<Fixture, "objects" | "instances">) {
    for (const { org, ...settings } of fixture.objects) {
      const parsed = objectSettingsSchema.parse(settings);
      this.objects.set(key(org, parsed.name), parsed);
      this.plurals.set(key(org, settings.plural), parsed.name);
    }
    for (const instance of fixture.instances) {
      for (const [account, level] of Object.entries(instance.access)) {
        this.access.set(key(instance.org, account, instance.object, instance._id), level);
      }
    }
  }

  /** {@inheritDoc ContextAccess.accessOf} */
  async accessOf(org: string, account: string, context: ContextRef): Promise<AccessLevel> {
    return this.access.get(key(org, account, context.object, context._id)) ?? 0;
  }

  /** {@inheritDoc ContextAccess.objectSettings} */
  async objectSettings(org: string, object: string): Promise<ObjectSettings | null> {
    const s = this.objects.get(key(org, object));
    // A copy by hand (its one array included): every request reads the settings, and structuredClone is slow.
    return s === undefined ? null : { ...s, shareChain: [...s.shareChain] };
  }

  /** The object a URL's plural name stands for (`c_diagnoses` → `c_diagnosis`), or null when the org has none. */
  objectFromPlural(org: string, plural: string): string | null {
    return this.plurals.get(key(org, plural)) ?? null;
  }
}

/** The fixture's orgs and their settings (docs/behaviour.md §10). */
export class FixtureOrgDirectory implements OrgDirectory {
  private readonly orgs = new Map<string, OrgSettings>();

  constructor(fixture: Pick<Fixture, "orgs">) {
    for (const org of fixture.orgs) {
      const parsed = parseOrgSettings(org);
      this.orgs.set(parsed.code, parsed);
    }
  }

  /** {@inheritDoc OrgDirectory.get} */
  async get(org: string): Promise<OrgSettings | null> {
    const s = this.orgs.get(org);
    return s === undefined ? null : { ...s };
  }

  /** Every org's settings. */
  list(): OrgSettings[] {
    return [...this.orgs.values()].map((s) => ({ ...s }));
  }
}
