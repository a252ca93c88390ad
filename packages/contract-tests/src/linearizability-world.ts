import {
  type AccessLevel,
  type Account,
  type AccountDirectory,
  type Clock,
  type ContextAccess,
  type ContextRef,
  type IdGenerator,
  type IssuedToken,
  type ObjectSettings,
  type OrgDirectory,
  type OrgSettings,
  objectSettingsSchema,
  orgSettingsSchema,
  type TokenService,
} from "@conn/core";

/**
 * The fixed world of the linearizability check: one org, five people, two contexts. Every id, token and instant is
 * deterministic, so the serial prefix of a batch leaves the same ids and tokens in every world it is replayed on
 * (the adapter under test and each serial replay on the reference), and a batch's calls can name them literally.
 */

/** The org of the check. */
export const LIN_ORG = "lin-org";

/** The people, by role: an owner (Delete), a sharer (Share), two others, and a newcomer with no account at first. */
export const LIN = {
  owner: { _id: "lin-owner", email: "owner@lin.test" },
  sharer: { _id: "lin-sharer", email: "sharer@lin.test" },
  pat: { _id: "lin-pat", email: "pat@lin.test" },
  quinn: { _id: "lin-quinn", email: "quinn@lin.test" },
  nia: { _id: "lin-nia", email: "nia@lin.test" },
} as const;

/** A person of the check, by role name. */
export type Who = keyof typeof LIN;

/** Every person, in a fixed order. */
export const LIN_PEOPLE: readonly Who[] = ["owner", "sharer", "pat", "quinn", "nia"];

/** The two contexts: files on an object that allows connections and `auto`. */
export const LIN_CONTEXTS: readonly ContextRef[] = [
  { object: "c_file", _id: "file-1" },
  { object: "c_file", _id: "file-2" },
];

/** The instance roles a target may be given. */
export const LIN_ROLES = ["role-a", "role-b"] as const;

/** Invitations expire after this many days. */
export const LIN_EXPIRY_DAYS = 1;

/** The instant every world starts at. */
export const LIN_START = Date.parse("2026-03-01T09:00:00.000Z");

/**
 * The host's own access, fixed for the whole run: the owner holds Delete on both files, the sharer Share, Quinn Read
 * on the second file; on accounts, the owner may `auto`-connect Pat and Quinn, the sharer only Pat.
 */
const HOST_ACCESS: readonly [Who, ContextRef, AccessLevel][] = [
  ["owner", LIN_CONTEXTS[0] as ContextRef, 7],
  ["owner", LIN_CONTEXTS[1] as ContextRef, 7],
  ["sharer", LIN_CONTEXTS[0] as ContextRef, 5],
  ["sharer", LIN_CONTEXTS[1] as ContextRef, 5],
  ["quinn", LIN_CONTEXTS[1] as ContextRef, 4],
  ["owner", { object: "account", _id: LIN.pat._id }, 5],
  ["owner", { object: "account", _id: LIN.quinn._id }, 5],
  ["sharer", { object: "account", _id: LIN.pat._id }, 5],
];

/** The role name of an account id (for reports), or the id itself. */
export function nameOf(accountId: string | null | undefined): string {
  if (accountId === null || accountId === undefined) return "anonymous";
  const who = LIN_PEOPLE.find((w) => LIN[w]._id === accountId);
  return who ?? accountId;
}

/**
 * The host side of the world, fixed but for one event: the newcomer (Nia) registers. Accounts, the host's own
 * access, object and org settings, behind the host ports.
 */
export class LinHost implements AccountDirectory, ContextAccess, OrgDirectory {
  private niaRegistered = false;
  private readonly object: ObjectSettings = objectSettingsSchema.parse({
    name: "c_file",
    allowConnections: true,
    requireAccept: false,
  });
  private readonly org: OrgSettings = orgSettingsSchema.parse({
    code: LIN_ORG,
    name: "Linearizability Org",
    pendingConnectionExpiry: LIN_EXPIRY_DAYS,
  });

  /** The newcomer registers (a host event, not a facade call). */
  register(): void {
    this.niaRegistered = true;
  }

  /** True once the newcomer has registered. */
  get registered(): boolean {
    return this.niaRegistered;
  }

  private accounts(org: string): Account[] {
    if (org !== LIN_ORG) return [];
    return LIN_PEOPLE.filter((w) => w !== "nia" || this.niaRegistered).map((w) => ({
      _id: LIN[w]._id,
      email: LIN[w].email,
      name: { first: w },
      verified: true,
    }));
  }

  async findByIds(org: string, ids: readonly string[]): Promise<Account[]> {
    return this.accounts(org).filter((a) => ids.includes(a._id));
  }

  async findByEmails(org: string, emails: readonly string[]): Promise<Account[]> {
    return this.accounts(org).filter((a) => emails.includes(a.email));
  }

  async accessOf(org: string, account: string, context: ContextRef): Promise<AccessLevel> {
    if (org !== LIN_ORG) return 0;
    const hit = HOST_ACCESS.find(
      ([w, c]) => LIN[w]._id === account && c.object === context.object && c._id === context._id,
    );
    return hit?.[2] ?? 0;
  }

  async objectSettings(org: string, object: string): Promise<ObjectSettings | null> {
    return org === LIN_ORG && object === "c_file" ? structuredClone(this.object) : null;
  }

  async get(org: string): Promise<OrgSettings | null> {
    return org === LIN_ORG ? { ...this.org } : null;
  }
}

/** A clock that moves only when told to. */
export class LinClock implements Clock {
  private current = LIN_START;

  now(): Date {
    return new Date(this.current);
  }

  /** Moves the time forward by `ms`. */
  advance(ms: number): void {
    this.current += ms;
  }

  async sleep(): Promise<void> {}
}

/**
 * Connection ids from a counter: the clock's seconds (8 hex digits) then the count (16), so the ids a serial prefix
 * makes are the same in every world. For tests only: real ids must not be guessable.
 */
export class SequentialIds implements IdGenerator {
  /** How many ids were made so far. */
  count = 0;

  constructor(private readonly clock: Clock) {}

  next(): string {
    const seconds = Math.floor(this.clock.now().getTime() / 1000);
    return seconds.toString(16).padStart(8, "0") + (this.count++).toString(16).padStart(16, "0");
  }

  /** The count an id of this generator was made with. */
  static countOf(id: string): number {
    return Number.parseInt(id.slice(8), 16);
  }
}

/**
 * Tokens from a counter, so the tokens a serial prefix issues are the same in every world. For tests only: real
 * tokens come from a CSPRNG and are compared in constant time.
 */
export class SequentialTokens implements TokenService {
  /** Every token issued, in order. */
  readonly issued: string[] = [];

  issue(): IssuedToken {
    const token = `linToken${this.issued.length.toString().padStart(6, "0")}`.padEnd(40, "x");
    this.issued.push(token);
    return { token, hash: this.hash(token), seal: `seal-${token}` };
  }

  hash(token: string): string {
    return `hash-${token}`;
  }

  matches(token: string, hash: string): boolean {
    return this.hash(token) === hash;
  }

  reveal(seal: string): string {
    return seal.slice("seal-".length);
  }
}

/** Awaited before a port call while gating is on: the point where another call may run first. */
export type Gate = (label: string) => Promise<unknown>;

/**
 * Wraps a port (and every object it hands out, and every object passed to a callback it is given, such as the
 * stores a `transaction` hands its work) so that each method call first awaits `gate()` when `enabled()`. Methods
 * run on the original object, so private state keeps working. Every method of a port answers a promise or an
 * `Awaitable` (which a promise is too), so delaying the call changes no type.
 */
export function gatePorts<T extends object>(port: T, gate: Gate, enabled: () => boolean, label = "port"): T {
  const wrapped = new WeakMap<object, unknown>();
  const wrapObject = (value: object, name: string): unknown => {
    if (value instanceof Date || Array.isArray(value)) return value;
    const known = wrapped.get(value);
    if (known !== undefined) return known;
    const proxy = new Proxy(value, {
      get(target, prop) {
        const member: unknown = Reflect.get(target, prop, target);
        const memberName = `${name}.${String(prop)}`;
        if (typeof member === "function") {
          return (...args: unknown[]) => {
            const call = () =>
              Reflect.apply(
                member,
                target,
                args.map((a) => wrapArg(a, memberName)),
              );
            return enabled() ? gate(memberName).then(call) : call();
          };
        }
        if (typeof member === "object" && member !== null) return wrapObject(member, memberName);
        return member;
      },
    });
    wrapped.set(value, proxy);
    return proxy;
  };
  const wrapArg = (arg: unknown, name: string): unknown => {
    if (typeof arg !== "function") return arg;
    return (...inner: unknown[]) =>
      Reflect.apply(
        arg,
        undefined,
        inner.map((x) => (typeof x === "object" && x !== null ? wrapObject(x, `${name}(tx)`) : x)),
      );
  };
  return wrapObject(port, label) as T;
}
