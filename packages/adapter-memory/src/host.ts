import {
  type AccessLevel,
  type Account,
  type AccountDirectory,
  type ContextAccess,
  type ContextRef,
  emailSchema,
  type ObjectSettings,
  type ObjectSettingsInput,
  type OrgDirectory,
  type OrgSettings,
  type OrgSettingsInput,
  objectSettingsSchema,
  parseOrgSettings,
} from "@conn/core";
import { NestedIndex } from "./nested-index.js";

const SEP = "\u0000";

/**
 * A copy of a stored account that shares nothing a caller could change with it (its one nested object, the name,
 * copied too): every create reads its targets' accounts, and structuredClone is slow.
 */
function copyOf(account: Account): Account {
  return { ...account, name: { ...account.name } };
}

/** Accounts kept in memory, per org, with email unique per org. */
export class InMemoryAccountDirectory implements AccountDirectory {
  private readonly byId = new Map<string, Account>();
  private readonly byEmail = new Map<string, string>();

  /** Adds or replaces an account; the email is trimmed and lower-cased and must be unique in the org. */
  put(org: string, account: Account): Account {
    const email = emailSchema.parse(account.email);
    const owner = this.byEmail.get(org + SEP + email);
    if (owner !== undefined && owner !== account._id)
      throw new Error(`email ${email} already belongs to an account of ${org}`);
    const previous = this.byId.get(org + SEP + account._id);
    if (previous !== undefined) this.byEmail.delete(org + SEP + previous.email);
    const stored = { ...structuredClone(account), email };
    this.byId.set(org + SEP + account._id, stored);
    this.byEmail.set(org + SEP + email, account._id);
    return structuredClone(stored);
  }

  async findByIds(org: string, ids: readonly string[]): Promise<Account[]> {
    const found: Account[] = [];
    for (const id of ids) {
      const a = this.byId.get(org + SEP + id);
      if (a !== undefined) found.push(copyOf(a));
    }
    return found;
  }

  async findByEmails(org: string, emails: readonly string[]): Promise<Account[]> {
    const found: Account[] = [];
    for (const email of emails) {
      const id = this.byEmail.get(org + SEP + email);
      const a = id === undefined ? undefined : this.byId.get(org + SEP + id);
      if (a !== undefined) found.push(copyOf(a));
    }
    return found;
  }
}

/** The host's own access rules kept in memory: a level per (org, account, context) and settings per object. */
export class InMemoryContextAccess implements ContextAccess {
  /** By org, account, object and context id: a look-up (on every resolveAccess) builds no key. */
  private readonly access = new NestedIndex<AccessLevel>();
  private readonly objects = new Map<string, ObjectSettings>();

  /** Sets the host's own access of an account to a context (an owner holds 7, Delete). */
  grant(org: string, account: string, context: ContextRef, level: AccessLevel): void {
    this.access.set(org, account, context.object, context._id, level);
  }

  /** Defines (or redefines) an object's connection settings; defaults as docs/behaviour.md §10. */
  defineObject(org: string, settings: ObjectSettingsInput): ObjectSettings {
    const parsed = objectSettingsSchema.parse(settings);
    this.objects.set(org + SEP + parsed.name, parsed);
    return structuredClone(parsed);
  }

  /** The level granted with {@link grant}, or 0; answered at once, without a promise. */
  accessOf(org: string, account: string, context: ContextRef): AccessLevel {
    return this.access.get(org, account, context.object, context._id) ?? 0;
  }

  async objectSettings(org: string, object: string): Promise<ObjectSettings | null> {
    const s = this.objects.get(org + SEP + object);
    // A copy by hand (its one array included): every request reads the settings, and structuredClone is slow.
    return s === undefined ? null : { ...s, shareChain: [...s.shareChain] };
  }
}

/** Org settings kept in memory. */
export class InMemoryOrgDirectory implements OrgDirectory {
  private readonly orgs = new Map<string, OrgSettings>();

  /**
   * Adds or replaces an org's settings; defaults as docs/behaviour.md §10. A bad setting fails with
   * `cortex.invalidArgument.unspecified` naming it, and nothing is stored.
   */
  put(settings: OrgSettingsInput): OrgSettings {
    const parsed = parseOrgSettings(settings);
    this.orgs.set(parsed.code, parsed);
    return { ...parsed };
  }

  async get(org: string): Promise<OrgSettings | null> {
    const s = this.orgs.get(org);
    return s === undefined ? null : { ...s };
  }
}
