/**
 * The reference model of the Connections facade: plain maps and the spec's rules, written independently of
 * @conn/core's use cases so the facade can be checked against it.
 */

/** The orgs of the model world; the same account and context ids exist in both, so any leak shows. */
export const M_ORGS = ["model-org-a", "model-org-b"] as const;
/** `pendingConnectionExpiry` of each org, in days. */
export const M_EXPIRY_DAYS = [1, 3] as const;

/** The contexts: two on an auto-friendly object, one on an object that requires acceptance, one with connections off. */
export const M_CONTEXTS = [
  { object: "c_file", _id: "5f0000000000000000000f01" },
  { object: "c_file", _id: "5f0000000000000000000f02" },
  { object: "c_memo", _id: "5f0000000000000000000f03" },
  { object: "c_locked", _id: "5f0000000000000000000f04" },
] as const;

/** Contexts whose access the model tracks (the locked one never gets connections). */
export const M_TRACKED_CONTEXTS = [0, 1, 2] as const;

/** Object settings per object name. */
export const M_OBJECTS = {
  c_file: { allowConnections: true, requireAccept: false, shareChain: [5, 4, 2] },
  c_memo: { allowConnections: true, requireAccept: true, shareChain: [4, 2] },
  c_locked: { allowConnections: false, requireAccept: true, shareChain: [5, 4, 2] },
} as const;

/** The accounts present from the start (same ids in both orgs); the last one is not verified. */
export const M_ACCOUNTS = [
  { _id: "5a0000000000000000000a00", email: "ann@model.test", verified: true },
  { _id: "5a0000000000000000000a01", email: "ben@model.test", verified: true },
  { _id: "5a0000000000000000000a02", email: "cy@model.test", verified: true },
  { _id: "5a0000000000000000000a03", email: "dee@model.test", verified: false },
] as const;

/** Accounts that register during a run, with the emails invitations may reach before they exist. */
export const M_NEWCOMERS = [
  { _id: "5b0000000000000000000b00", email: "neo@model.test" },
  { _id: "5b0000000000000000000b01", email: "nia@model.test" },
] as const;

/** An id no account has. */
export const M_UNKNOWN_ACCOUNT = "5c0000000000000000000c99";

/** Instance role ids. */
export const M_ROLES = ["5e0000000000000000000e01", "5e0000000000000000000e02"] as const;

/** Every account id a command may name: the four initial ones, then the newcomers. */
export const M_ALL_ACCOUNT_IDS: readonly string[] = [
  ...M_ACCOUNTS.map((a) => a._id),
  ...M_NEWCOMERS.map((a) => a._id),
];

/** One connection in the model. */
export interface MConn {
  org: number;
  id: string;
  ctx: number;
  creator: string;
  account: string | null;
  email: string | null;
  viaEmail: boolean;
  targetKey: string;
  access: number;
  roles: Set<string>;
  state: 0 | 1;
  /** Epoch ms, pending only. */
  expiresAt: number | null;
  /** The latest token the target was shown, or null when not yet seen. */
  token: string | null;
  /** The access level of the creator when the connection was created or last raised by a create. */
  creatorLevel: number;
}

/** What the model knows of a token it has seen. */
export interface MToken {
  org: number;
  id: string;
  /** False once the token was replaced, used or its invitation removed. Expiry is judged from the clock. */
  current: boolean;
  /** The account that was shown the token. */
  account: string;
  /** Whether the token resolved when last checked (undefined: not checked yet). */
  checkedLive?: boolean;
}

/** One org of the model. */
export interface MOrg {
  /** Accounts by id. */
  accounts: Map<string, { email: string; verified: boolean }>;
  /** The host's own access: `${account}|${ctx}` → level. */
  host: Map<string, number>;
  /** Callers that hold the object's requiredAccess (5) on a target account: `${caller}|${target}`. */
  onAccount: Set<string>;
  /** Connections by id. */
  conns: Map<string, MConn>;
  /** Expired invitations the model dropped that the adapter may still hold until a purge (superseded). */
  maybeStored: number;
}

/** The whole model. */
export interface Model {
  now: number;
  orgs: MOrg[];
  tokens: Map<string, MToken>;
  /** Every connection id ever returned, with its org, for delete/get picks. */
  seen: { org: number; id: string }[];
}

/** The world the model starts from: the host's grants, generated per run. */
export interface ModelInit {
  /** host[org][account index 0..3][context index 0..3] = level. */
  host: number[][][];
  /** onAccount[org][caller 0..3][target 0..3]: the caller holds Share on the target's account. */
  onAccount: boolean[][][];
}

/** Builds the starting model from an init. */
export function initialModel(init: ModelInit, start: number): Model {
  return {
    now: start,
    tokens: new Map(),
    seen: [],
    orgs: M_ORGS.map((_, o) => {
      const host = new Map<string, number>();
      const onAccount = new Set<string>();
      M_ACCOUNTS.forEach((a, ai) => {
        M_CONTEXTS.forEach((_, ci) => {
          host.set(`${a._id}|${ci}`, init.host[o]?.[ai]?.[ci] ?? 0);
        });
        M_ACCOUNTS.forEach((t, ti) => {
          if (init.onAccount[o]?.[ai]?.[ti] === true) onAccount.add(`${a._id}|${t._id}`);
        });
      });
      return {
        accounts: new Map(M_ACCOUNTS.map((a) => [a._id, { email: a.email, verified: a.verified }])),
        host,
        onAccount,
        conns: new Map(),
        maybeStored: 0,
      };
    }),
  };
}

/** A spec error code the model predicts. */
export type MCode =
  | "cortex.accessDenied.connectionsDisabled"
  | "cortex.accessDenied.connectionRequiresVerification"
  | "cortex.accessDenied.shareAccess"
  | "cortex.accessDenied.connection"
  | "cortex.accessDenied.autoConnectionRequiresAccess"
  | "cortex.accessDenied.notLoggedIn"
  | "cortex.invalidArgument.connectionTarget"
  | "cortex.invalidArgument.noConnectionTargets"
  | "cortex.invalidArgument.autoConnectionRequiresId"
  | "cortex.invalidArgument.requireConnectionAccept"
  | "cortex.invalidArgument.connectionToken"
  | "cortex.invalidArgument.unspecified"
  | "cortex.notFound.account"
  | "cortex.notFound.unspecified"
  | "cortex.conflict.connectionExists";

/** A failure the model predicts. */
export class ModelFault {
  constructor(readonly code: MCode) {}
}

const fault = (code: MCode) => new ModelFault(code);

export const isExpired = (m: Model, c: MConn) =>
  c.state === 0 && c.expiresAt !== null && c.expiresAt <= m.now;

/** Expiry the way the spec words it: created + N calendar days. */
export function expiryOf(now: number, days: number): number {
  const d = new Date(now);
  d.setDate(d.getDate() + days);
  return d.getTime();
}

function activeOf(org: MOrg, ctx: number, account: string): MConn | undefined {
  for (const c of org.conns.values()) if (c.state === 1 && c.ctx === ctx && c.account === account) return c;
  return undefined;
}

/** The effective access of docs/behaviour.md §9: the host's own or the active connection's, whichever is higher. */
export function effective(m: Model, o: number, account: string, ctx: number): number {
  const org = m.orgs[o] as MOrg;
  return Math.max(org.host.get(`${account}|${ctx}`) ?? 0, activeOf(org, ctx, account)?.access ?? 0);
}

/** True when `account` is the target of `c` (docs/behaviour.md §3: by account, or by email while unbound). */
export function isTargetOf(m: Model, o: number, c: MConn, account: string): boolean {
  if (c.account !== null) return c.account === account;
  return c.email !== null && c.email === m.orgs[o]?.accounts.get(account)?.email;
}

/**
 * The level a connection grants (docs/behaviour.md §5), from the spec's wording: below the caller's level, at least Connected,
 * at most Delete, capped by the share chain; Reserved (3) is never granted (docs/behaviour.md §2), so it rounds down to Connected.
 */
export function granted(
  callerAccess: number,
  requested: number | undefined,
  shareChain: readonly number[],
): number {
  let level = Math.max(2, Math.min(callerAccess - 1, requested ?? 2));
  level = Math.min(level, 7);
  const cap = shareChain.find((l) => l < callerAccess);
  if (cap !== undefined) level = Math.max(2, Math.min(level, cap));
  return level === 3 ? 2 : level;
}

function drop(m: Model, o: number, c: MConn): void {
  m.orgs[o]?.conns.delete(c.id);
  for (const t of m.tokens.values()) if (t.org === o && t.id === c.id) t.current = false;
}

function retireTokens(m: Model, o: number, id: string): void {
  for (const t of m.tokens.values()) if (t.org === o && t.id === id) t.current = false;
}

/** Removes the pending invitations of `account` on `ctx` at or below `maxAccess` (docs/behaviour.md §4, accept). */
function supersede(
  m: Model,
  o: number,
  ctx: number,
  account: string,
  maxAccess: number,
  exceptId?: string,
): void {
  const org = m.orgs[o] as MOrg;
  for (const c of [...org.conns.values()]) {
    if (c.state !== 0 || c.ctx !== ctx || c.account !== account || c.access > maxAccess || c.id === exceptId)
      continue;
    if (isExpired(m, c)) org.maybeStored++;
    drop(m, o, c);
  }
}

/** A create target as a command generates it. */
export type TargetSpec =
  | { kind: "account"; who: number; access?: number | undefined; roles: number[]; auto: boolean }
  | {
      kind: "email";
      which: number;
      shout: boolean;
      access?: number | undefined;
      name: boolean;
      auto: boolean;
    };

/** The account id a target spec names: 0..3 initial, 4 unknown, 5..6 newcomers. */
export function accountIdOf(who: number): string {
  if (who < M_ACCOUNTS.length) return (M_ACCOUNTS[who] as { _id: string })._id;
  if (who === M_ACCOUNTS.length) return M_UNKNOWN_ACCOUNT;
  return (M_NEWCOMERS[(who - M_ACCOUNTS.length - 1) % M_NEWCOMERS.length] as { _id: string })._id;
}

/** The email a target spec names: 0..3 initial accounts' emails, 4..5 newcomers'. */
export function emailOf(which: number): string {
  if (which < M_ACCOUNTS.length) return (M_ACCOUNTS[which] as { email: string }).email;
  return (M_NEWCOMERS[(which - M_ACCOUNTS.length) % M_NEWCOMERS.length] as { email: string }).email;
}

/** What the model expects one create result entry to be. */
export type ExpectedEntry =
  | { kind: "fault"; code: MCode; target: { _id?: string; email?: string } }
  | {
      kind: "record";
      /** The id, when it must be an existing record's (re-invite, upgrade); null for a new one. */
      id: string | null;
      state: 0 | 1;
      access: number;
      roles: string[];
      /** The account the creator's view shows, or null when none or hidden. */
      shownAccount: string | null;
      /** Applies the outcome to the model once the adapter's id is known. */
      commit: (id: string) => void;
    };

/** A predicted create: one entry per merged target, applied to the model once the adapter's ids are known. */
export interface CreatePlan {
  entries: ExpectedEntry[];
  /** The caller's effective access on the context when it created. */
  callerAccess: number;
  /** Applies the outcome; `ids[i]` is the id the adapter returned for entry i (null for faults). */
  apply(ids: readonly (string | null)[]): void;
}

interface Merged {
  index: number;
  account: string | null;
  email: string | null;
  viaEmail: boolean;
  access: number;
  roles: string[];
  auto: boolean;
}

/** Predicts `create` (docs/behaviour.md §5). Returns the whole-request fault, or one expected entry per merged target. */
export function modelCreate(
  m: Model,
  o: number,
  caller: string,
  ctx: number,
  specs: readonly TargetSpec[],
): ModelFault | CreatePlan {
  const org = m.orgs[o] as MOrg;
  const me = org.accounts.get(caller);
  if (me === undefined) return fault("cortex.accessDenied.notLoggedIn");
  const object = M_OBJECTS[(M_CONTEXTS[ctx] as { object: keyof typeof M_OBJECTS }).object];
  if (!object.allowConnections) return fault("cortex.accessDenied.connectionsDisabled");
  if (!me.verified) return fault("cortex.accessDenied.connectionRequiresVerification");
  const callerAccess = effective(m, o, caller, ctx);
  if (callerAccess < 5) return fault("cortex.accessDenied.shareAccess");
  if (specs.length === 0) return fault("cortex.invalidArgument.noConnectionTargets");
  const parsed = specs.map((s) =>
    s.kind === "account"
      ? { _id: accountIdOf(s.who), email: undefined, spec: s }
      : { _id: undefined, email: emailOf(s.which), spec: s },
  );
  if (parsed.some((t) => t._id === caller || t.email === me.email))
    return fault("cortex.invalidArgument.connectionTarget");
  if (parsed.some((t) => t.spec.auto && t._id === undefined))
    return fault("cortex.invalidArgument.autoConnectionRequiresId");
  if (object.requireAccept && parsed.some((t) => t.spec.auto))
    return fault("cortex.invalidArgument.requireConnectionAccept");
  if (parsed.some((t) => t._id !== undefined && !org.accounts.has(t._id)))
    return fault("cortex.notFound.account");

  const accountOfEmail = (email: string) => {
    for (const [id, a] of org.accounts) if (a.email === email) return id;
    return null;
  };
  const merged: Merged[] = [];
  parsed.forEach((t, index) => {
    const account = t._id ?? accountOfEmail(t.email as string);
    const email = t._id === undefined ? (t.email as string) : null;
    const roles = t.spec.kind === "account" ? t.spec.roles.map((r) => M_ROLES[r] as string) : [];
    const access = t.spec.access ?? 2;
    const same = merged.find((x) =>
      account !== null ? x.account === account : x.account === null && x.email === email,
    );
    if (same === undefined) {
      merged.push({
        index,
        account,
        email,
        viaEmail: t._id === undefined,
        access,
        roles: [...new Set(roles)],
        auto: t.spec.auto,
      });
      return;
    }
    same.access = Math.max(same.access, access);
    same.roles = [...new Set([...same.roles, ...roles])];
    same.auto = same.auto && t.spec.auto;
    same.viaEmail = same.viaEmail && t._id === undefined;
    same.email ??= email;
  });

  // Decide every target against the state before the request, then apply (the adapter works from one snapshot).
  const supersedes: { account: string; access: () => number }[] = [];
  const entries = merged.map((t): ExpectedEntry => {
    const faultTarget = t.viaEmail ? { email: t.email as string } : { _id: t.account as string };
    if (t.auto && t.account !== null) {
      const target = org.accounts.get(t.account);
      if (!org.onAccount.has(`${caller}|${t.account}`) || target === undefined || !target.verified) {
        return {
          kind: "fault",
          code: "cortex.accessDenied.autoConnectionRequiresAccess",
          target: faultTarget,
        };
      }
    }
    const level = granted(callerAccess, t.access, object.shareChain);
    const active = t.account === null ? undefined : activeOf(org, ctx, t.account);
    if (active !== undefined) {
      const addsRoles = t.roles.some((r) => !active.roles.has(r));
      if (level <= active.access && !addsRoles) {
        return { kind: "fault", code: "cortex.conflict.connectionExists", target: faultTarget };
      }
      const access = Math.max(active.access, level);
      const roles = [...new Set([...active.roles, ...t.roles])];
      supersedes.push({ account: active.account as string, access: () => access });
      return {
        kind: "record",
        id: active.id,
        state: 1,
        access,
        roles,
        shownAccount: active.account,
        commit: () => {
          // The account that raises the access becomes the creator (docs/behaviour.md §7).
          if (access > active.access) active.creator = caller;
          active.access = access;
          active.roles = new Set(roles);
          active.creatorLevel = Math.max(active.creatorLevel, callerAccess);
        },
      };
    }
    if (t.auto) {
      const account = t.account as string;
      supersedes.push({ account, access: () => level });
      return {
        kind: "record",
        id: null,
        state: 1,
        access: level,
        roles: t.roles,
        shownAccount: account,
        commit: (id) => {
          org.conns.set(id, {
            org: o,
            id,
            ctx,
            creator: caller,
            account,
            email: null,
            viaEmail: false,
            targetKey: `account:${account}`,
            access: level,
            roles: new Set(t.roles),
            state: 1,
            expiresAt: null,
            token: null,
            creatorLevel: callerAccess,
          });
        },
      };
    }
    const expiresAt = expiryOf(m.now, M_EXPIRY_DAYS[o] as number);
    const mine = [...org.conns.values()].filter(
      (p) =>
        p.state === 0 &&
        p.creator === caller &&
        p.ctx === ctx &&
        !isExpired(m, p) &&
        ((t.account !== null && p.account === t.account) || (t.email !== null && p.email === t.email)),
    );
    if (mine.length > 1) throw new Error(`model: ${mine.length} pending invitations match one target`);
    const existing = mine[0];
    if (existing !== undefined) {
      const access = Math.max(existing.access, level);
      const roles = [...new Set([...existing.roles, ...t.roles])];
      return {
        kind: "record",
        id: existing.id,
        state: 0,
        access,
        roles,
        shownAccount: existing.viaEmail ? null : existing.account,
        commit: () => {
          existing.access = access;
          existing.roles = new Set(roles);
          existing.expiresAt = expiresAt;
          existing.creatorLevel = Math.max(existing.creatorLevel, callerAccess);
          existing.token = null;
          retireTokens(m, o, existing.id);
        },
      };
    }
    const targetKey = !t.viaEmail && t.account !== null ? `account:${t.account}` : `email:${t.email ?? ""}`;
    const replaced = [...org.conns.values()].find(
      (p) =>
        p.state === 0 &&
        p.creator === caller &&
        p.ctx === ctx &&
        p.targetKey === targetKey &&
        isExpired(m, p),
    );
    return {
      kind: "record",
      id: null,
      state: 0,
      access: level,
      roles: t.roles,
      shownAccount: t.viaEmail ? null : t.account,
      commit: (id) => {
        if (replaced !== undefined) drop(m, o, replaced);
        org.conns.set(id, {
          org: o,
          id,
          ctx,
          creator: caller,
          account: t.account,
          email: t.email,
          viaEmail: t.viaEmail,
          targetKey,
          access: level,
          roles: new Set(t.roles),
          state: 0,
          expiresAt,
          token: null,
          creatorLevel: callerAccess,
        });
      },
    };
  });
  return {
    entries,
    callerAccess,
    apply(ids) {
      entries.forEach((e, i) => {
        if (e.kind === "record") e.commit(ids[i] as string);
      });
      for (const s of supersedes) supersede(m, o, ctx, s.account, s.access());
    },
  };
}

/** What the model expects of an accept. */
export interface ExpectedAccept {
  /** The accepted invitation merged into an active connection the target already held. */
  merged: boolean;
  id: string;
  access: number;
  roles: string[];
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{32,256}$/;

/** The connection a token opens in org `o` for `caller` (null: anonymous), or the fault (docs/behaviour.md §6). */
function openToken(m: Model, o: number, caller: string | null, token: string): MConn | ModelFault {
  if (!TOKEN_SHAPE.test(token)) return fault("cortex.invalidArgument.unspecified");
  const known = m.tokens.get(token);
  const conn =
    known === undefined || known.org !== o || !known.current ? undefined : m.orgs[o]?.conns.get(known.id);
  if (conn === undefined || conn.state !== 0 || isExpired(m, conn))
    return fault("cortex.invalidArgument.connectionToken");
  if (caller !== null && !isTargetOf(m, o, conn, caller))
    return fault("cortex.invalidArgument.connectionToken");
  return conn;
}

/** Predicts and applies `accept` (docs/behaviour.md §4, §6). */
export function modelAccept(m: Model, o: number, caller: string, token: string): ModelFault | ExpectedAccept {
  const org = m.orgs[o] as MOrg;
  const me = org.accounts.get(caller);
  if (me === undefined) return fault("cortex.accessDenied.notLoggedIn");
  const conn = openToken(m, o, caller, token);
  if (conn instanceof ModelFault) return conn;
  if (!me.verified) return fault("cortex.accessDenied.connectionRequiresVerification");
  drop(m, o, conn);
  const active = activeOf(org, conn.ctx, caller);
  let stored: MConn;
  if (active !== undefined) {
    if (conn.access > active.access) active.creator = conn.creator;
    active.access = Math.max(active.access, conn.access);
    active.roles = new Set([...active.roles, ...conn.roles]);
    active.creatorLevel = Math.max(active.creatorLevel, conn.creatorLevel);
    stored = active;
  } else {
    stored = { ...conn, account: caller, state: 1, expiresAt: null, token: null };
    org.conns.set(stored.id, stored);
  }
  supersede(m, o, conn.ctx, caller, stored.access, stored.id);
  return { merged: active !== undefined, id: stored.id, access: stored.access, roles: [...stored.roles] };
}

/** Predicts and applies `reject` (docs/behaviour.md §6): anonymous allowed; a logged-in caller must be the target. */
export function modelReject(m: Model, o: number, caller: string | null, token: string): ModelFault | true {
  const known = caller === null ? null : m.orgs[o]?.accounts.has(caller) ? caller : null;
  const conn = openToken(m, o, known, token);
  if (conn instanceof ModelFault) return conn;
  drop(m, o, conn);
  return true;
}

/** Predicts and applies `delete` (docs/behaviour.md §7). */
export function modelDelete(m: Model, o: number, caller: string, id: string): ModelFault | true {
  const org = m.orgs[o] as MOrg;
  if (!org.accounts.has(caller)) return fault("cortex.accessDenied.notLoggedIn");
  const conn = org.conns.get(id);
  if (conn === undefined || isExpired(m, conn)) return fault("cortex.notFound.unspecified");
  const own = isTargetOf(m, o, conn, caller) || conn.creator === caller;
  if (!own) {
    const callerAccess = effective(m, o, caller, conn.ctx);
    const needed = conn.state === 1 ? 2 : 5;
    // one who may not even read it is denied the connection; one who may read it needs Share, then more access
    if (callerAccess < needed) return fault("cortex.accessDenied.connection");
    if (callerAccess < 5) return fault("cortex.accessDenied.shareAccess");
    const targetAccess = conn.account === null ? 0 : effective(m, o, conn.account, conn.ctx);
    if (callerAccess <= targetAccess) return fault("cortex.accessDenied.connection");
  }
  drop(m, o, conn);
  return true;
}

/** Predicts and applies a registration + bind (docs/behaviour.md §8): unexpired invitations to the email are bound; returns how many. */
export function modelRegister(m: Model, o: number, newcomer: number): number {
  const org = m.orgs[o] as MOrg;
  const who = M_NEWCOMERS[newcomer] as { _id: string; email: string };
  org.accounts.set(who._id, { email: who.email, verified: true });
  let bound = 0;
  for (const c of org.conns.values()) {
    if (c.state !== 0 || c.account !== null || c.email !== who.email || isExpired(m, c)) continue;
    c.account = who._id;
    bound++;
  }
  return bound;
}

/** Predicts and applies a purge: the removed count as a range (the model may have dropped some already). */
export function modelPurge(m: Model, o: number): { min: number; max: number } {
  const org = m.orgs[o] as MOrg;
  let n = 0;
  for (const c of [...org.conns.values()]) {
    if (isExpired(m, c)) {
      drop(m, o, c);
      n++;
    }
  }
  const range = { min: n, max: n + org.maybeStored };
  org.maybeStored = 0;
  return range;
}

/** True when a token the model saw must open its invitation now. */
export function tokenIsLive(m: Model, token: MToken): boolean {
  const conn = m.orgs[token.org]?.conns.get(token.id);
  return token.current && conn !== undefined && conn.state === 0 && !isExpired(m, conn);
}

/** The connections `account` must see when listing as target in org `o` (unexpired). */
export function visibleAsTarget(m: Model, o: number, account: string): MConn[] {
  return [...(m.orgs[o] as MOrg).conns.values()].filter(
    (c) => isTargetOf(m, o, c, account) && !isExpired(m, c),
  );
}

/** The connections `account` must see when listing as creator in org `o` (unexpired). */
export function visibleAsCreator(m: Model, o: number, account: string): MConn[] {
  return [...(m.orgs[o] as MOrg).conns.values()].filter((c) => c.creator === account && !isExpired(m, c));
}
