import type { ConnectionTargetInput, ConnectionView } from "@conn/core";
import fc from "fast-check";
import {
  LIN,
  LIN_CONTEXTS,
  LIN_PEOPLE,
  LIN_ROLES,
  nameOf,
  SequentialIds,
  type Who,
} from "./linearizability-world.js";

/**
 * The calls of the linearizability check: what the generator makes (symbolic calls that name connections and tokens
 * by a small pick), and how a symbolic call is resolved against the world after the serial prefix into a concrete
 * call, the same in every world it then runs in.
 */

/** Whose hand a delete or a get is by, relative to the connection it names. */
type Role = "target" | "creator" | "owner" | "sharer" | "stranger";

/** A target of a generated create. Nia is invited by email, everyone else by account id. */
interface TargetSym {
  who: Who;
  access: 2 | 4 | 5 | 6 | undefined;
  roles: number[];
  auto: boolean;
}

/** A generated call; `pick` chooses among the connections or tokens the world holds when the call is resolved. */
export type Sym =
  | { kind: "create"; caller: Who; ctx: number; targets: TargetSym[] }
  | { kind: "reinvite"; pick: number; access: 2 | 4 | 5 | 6 | undefined; auto: boolean; byOther: boolean }
  | { kind: "accept"; pick: number; asTarget: boolean }
  | { kind: "reject"; pick: number; as: "target" | "anonymous" | "other" }
  | { kind: "delete"; pick: number; by: Role }
  | { kind: "get"; pick: number; by: Role }
  | { kind: "bind" }
  | { kind: "purge" }
  | { kind: "resolve"; who: Who; ctx: number }
  | { kind: "advance"; ms: number }
  | { kind: "register" };

/** A concrete facade call (or, in the prefix only, a host event), the same in every world. */
export type Call =
  | { kind: "create"; caller: string; ctx: number; targets: ConnectionTargetInput[] }
  | { kind: "accept"; caller: string; token: string }
  | { kind: "reject"; caller: string | null; token: string }
  | { kind: "delete"; caller: string; id: string }
  | { kind: "get"; caller: string; id: string }
  | { kind: "bind" }
  | { kind: "purge" }
  | { kind: "resolve"; account: string; ctx: number }
  | { kind: "advance"; ms: number }
  | { kind: "register" };

/** What a call answered: `text` is compared; `detail` (the cause of an unexpected fault) is only reported. */
export interface Answer {
  text: string;
  detail?: string;
}

const HOUR = 60 * 60 * 1000;
const UNKNOWN_TOKEN = "linUnknownToken".padEnd(40, "z");
const UNKNOWN_ID = "00000000ffffffffffffffff";

/** A token as reports show it: its issue number. */
export function tokenName(token: string): string {
  const m = /^linToken(\d{6})/.exec(token);
  return m === null ? "unknown-token" : `token#${Number(m[1])}`;
}

/** An id as reports show it: its count, or the raw id when it is not one of ours. */
export function idName(id: string): string {
  return /^[0-9a-f]{24}$/.test(id) && id !== UNKNOWN_ID ? `#${SequentialIds.countOf(id)}` : id;
}

function describeTarget(t: ConnectionTargetInput): string {
  const who = t._id !== undefined ? nameOf(t._id) : `<${t.email}>`;
  const access = t.access === undefined ? "" : `@${t.access}`;
  const roles = t.roles === undefined || t.roles.length === 0 ? "" : ` roles=[${t.roles.join(",")}]`;
  return `${who}${access}${t.auto === true ? " auto" : ""}${roles}`;
}

/** A call as reports show it. */
export function describeCall(call: Call): string {
  switch (call.kind) {
    case "create":
      return `create(${nameOf(call.caller)}, ${LIN_CONTEXTS[call.ctx]?._id}, [${call.targets.map(describeTarget).join(", ")}])`;
    case "accept":
      return `accept(${nameOf(call.caller)}, ${tokenName(call.token)})`;
    case "reject":
      return `reject(${nameOf(call.caller)}, ${tokenName(call.token)})`;
    case "delete":
      return `delete(${nameOf(call.caller)}, ${idName(call.id)})`;
    case "get":
      return `get(${nameOf(call.caller)}, ${idName(call.id)})`;
    case "bind":
      return "bindRegisteredAccount(nia)";
    case "purge":
      return "purgeExpired()";
    case "resolve":
      return `resolveAccess(${nameOf(call.account)}, ${LIN_CONTEXTS[call.ctx]?._id})`;
    case "advance":
      return `clock +${call.ms / HOUR}h`;
    case "register":
      return "nia registers";
  }
}

/** What the world holds that a symbolic call can name: connections (pending first), live tokens, every token. */
export interface Catalog {
  conns: ConnectionView[];
  live: { token: string; view: ConnectionView }[];
  issued: readonly string[];
  gone: string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Resolving a symbolic call against what the world holds.

const idOf = (w: Who) => LIN[w]._id;

/** The account a connection is for: its account, or the person whose email it names. */
function targetOf(v: ConnectionView): string {
  if (v.target.account !== undefined) return v.target.account._id;
  const who = LIN_PEOPLE.find((w) => LIN[w].email === v.target.email);
  return who === undefined ? LIN.pat._id : idOf(who);
}

/** Someone who is neither the creator nor the target of `v`. */
function strangerTo(v: ConnectionView): string {
  const involved = [v.creator._id, targetOf(v)];
  return [LIN.quinn._id, LIN.pat._id, LIN.sharer._id].find((a) => !involved.includes(a)) as string;
}

function byRole(role: Role, v: ConnectionView | undefined): string {
  switch (role) {
    case "owner":
      return LIN.owner._id;
    case "sharer":
      return LIN.sharer._id;
    case "target":
      return v === undefined ? LIN.pat._id : targetOf(v);
    case "creator":
      return v === undefined ? LIN.owner._id : v.creator._id;
    case "stranger":
      return v === undefined ? LIN.quinn._id : strangerTo(v);
  }
}

function targetInput(t: TargetSym): ConnectionTargetInput {
  const input: ConnectionTargetInput = t.who === "nia" ? { email: LIN.nia.email } : { _id: idOf(t.who) };
  if (t.access !== undefined) input.access = t.access;
  if (t.roles.length > 0) input.roles = t.roles.map((r) => LIN_ROLES[r] as string);
  if (t.auto) input.auto = true;
  return input;
}

/** A token (live when asked and there is one), and who presents it: its target, or someone else. */
function pickToken(cat: Catalog, pick: number, asTarget: boolean): { token: string; target: string | null } {
  const live = cat.live[pick % Math.max(1, cat.live.length)];
  if (asTarget && live !== undefined) return { token: live.token, target: targetOf(live.view) };
  const token = cat.issued[pick % Math.max(1, cat.issued.length)] ?? UNKNOWN_TOKEN;
  const view = cat.live.find((l) => l.token === token)?.view;
  return { token, target: view === undefined ? null : targetOf(view) };
}

/** A connection id to name: one the world holds, or (for large picks) one that is gone. */
function pickConnection(cat: Catalog, pick: number): { id: string; view: ConnectionView | undefined } {
  if ((pick >= cat.conns.length || cat.conns.length === 0) && cat.gone.length > 0) {
    return { id: cat.gone[pick % cat.gone.length] as string, view: undefined };
  }
  const view = cat.conns[pick % Math.max(1, cat.conns.length)];
  return { id: view?._id ?? UNKNOWN_ID, view };
}

/** The id of the connection a resolved call names (through its id, its token or its target), if any. */
export function touched(call: Call, cat: Catalog): string | null {
  switch (call.kind) {
    case "accept":
    case "reject":
      return cat.live.find((l) => l.token === call.token)?.view._id ?? null;
    case "delete":
    case "get":
      return call.id;
    case "create": {
      const ctx = LIN_CONTEXTS[call.ctx]?._id;
      const hit = cat.conns.find(
        (v) =>
          v.context._id === ctx &&
          call.targets.some((t) =>
            t._id !== undefined ? v.target.account?._id === t._id : v.target.email === t.email,
          ),
      );
      return hit?._id ?? null;
    }
    default:
      return null;
  }
}

/** The concrete call a symbolic one makes in the world the catalog describes. */
export function resolve(sym: Sym, cat: Catalog): Call {
  switch (sym.kind) {
    case "create":
      return {
        kind: "create",
        caller: idOf(sym.caller),
        ctx: sym.ctx,
        targets: sym.targets.map(targetInput),
      };
    case "reinvite": {
      // Creates again to the target of a connection: a re-invitation (pending), an upgrade or a conflict (active).
      const pending = cat.conns.filter((v) => v.state === 0);
      const pool = pending.length > 0 ? pending : cat.conns;
      const v = pool[sym.pick % Math.max(1, pool.length)];
      if (v === undefined)
        return { kind: "create", caller: LIN.owner._id, ctx: 0, targets: [{ _id: LIN.pat._id }] };
      const other = v.creator._id === LIN.owner._id ? LIN.sharer._id : LIN.owner._id;
      const target: ConnectionTargetInput =
        v.target.account !== undefined ? { _id: v.target.account._id } : { email: v.target.email as string };
      if (sym.access !== undefined) target.access = sym.access;
      if (sym.auto) target.auto = true;
      const ctx = LIN_CONTEXTS.findIndex((c) => c._id === v.context._id);
      return { kind: "create", caller: sym.byOther ? other : v.creator._id, ctx, targets: [target] };
    }
    case "accept": {
      const { token, target } = pickToken(cat, sym.pick, sym.asTarget);
      const caller =
        sym.asTarget && target !== null ? target : target === LIN.pat._id ? LIN.quinn._id : LIN.pat._id;
      return { kind: "accept", caller, token };
    }
    case "reject": {
      const { token, target } = pickToken(cat, sym.pick, sym.as !== "other");
      if (sym.as === "anonymous") return { kind: "reject", caller: null, token };
      const caller =
        sym.as === "target" && target !== null
          ? target
          : target === LIN.pat._id
            ? LIN.quinn._id
            : LIN.pat._id;
      return { kind: "reject", caller, token };
    }
    case "delete":
    case "get": {
      const { id, view } = pickConnection(cat, sym.pick);
      return { kind: sym.kind, caller: byRole(sym.by, view), id };
    }
    case "resolve":
      return { kind: "resolve", account: idOf(sym.who), ctx: sym.ctx };
    case "bind":
    case "purge":
    case "register":
      return { kind: sym.kind };
    case "advance":
      return { kind: "advance", ms: sym.ms };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The generators.

const accessArb = fc.constantFrom<2 | 4 | 5 | 6 | undefined>(undefined, undefined, 2, 4, 5, 5, 6);
// Small picks, mostly 0: calls of one batch often name the same connection (the lowest pending one first).
const pickArb = fc.constantFrom(0, 0, 0, 1, 1, 2, 3);
const targetArb: fc.Arbitrary<TargetSym> = fc.record({
  who: fc.constantFrom<Who>("pat", "pat", "pat", "quinn", "quinn", "nia", "sharer", "owner"),
  access: accessArb,
  roles: fc.subarray([0, 1]),
  auto: fc.constantFrom(false, false, false, false, true),
});
const createArb: fc.Arbitrary<Sym> = fc
  .record({
    kind: fc.constant("create" as const),
    caller: fc.constantFrom<Who>("owner", "owner", "owner", "sharer", "sharer", "pat", "quinn"),
    ctx: fc.constantFrom(0, 0, 1),
    targets: fc.array(targetArb, { minLength: 1, maxLength: 2 }),
  })
  // Inviting oneself is refused before anything races; the model-based suite covers it, so invite Pat (or Quinn).
  .map((c) => ({
    ...c,
    targets: c.targets.map((t) =>
      t.who === c.caller ? { ...t, who: c.caller === "pat" ? "quinn" : "pat" } : t,
    ),
  }));
const reinviteArb: fc.Arbitrary<Sym> = fc.record({
  kind: fc.constant("reinvite" as const),
  pick: pickArb,
  access: accessArb,
  auto: fc.constantFrom(false, false, false, true),
  byOther: fc.constantFrom(false, false, true),
});
const acceptArb: fc.Arbitrary<Sym> = fc.record({
  kind: fc.constant("accept" as const),
  pick: pickArb,
  asTarget: fc.constantFrom(true, true, true, true, true, false),
});
const rejectArb: fc.Arbitrary<Sym> = fc.record({
  kind: fc.constant("reject" as const),
  pick: pickArb,
  as: fc.constantFrom<"target" | "anonymous" | "other">("target", "target", "anonymous", "other"),
});
const roleArb = fc.constantFrom<Role>(
  "target",
  "target",
  "creator",
  "creator",
  "owner",
  "sharer",
  "sharer",
  "stranger",
);
const deleteArb: fc.Arbitrary<Sym> = fc.record({
  kind: fc.constant("delete" as const),
  pick: pickArb,
  by: roleArb,
});
const getArb: fc.Arbitrary<Sym> = fc.record({
  kind: fc.constant("get" as const),
  pick: pickArb,
  by: roleArb,
});
const resolveArb: fc.Arbitrary<Sym> = fc.record({
  kind: fc.constant("resolve" as const),
  who: fc.constantFrom<Who>(...LIN_PEOPLE),
  ctx: fc.constantFrom(0, 1),
});
const bindArb: fc.Arbitrary<Sym> = fc.constant({ kind: "bind" as const });
const purgeArb: fc.Arbitrary<Sym> = fc.constant({ kind: "purge" as const });
const advanceArb: fc.Arbitrary<Sym> = fc
  .constantFrom(HOUR, 25 * HOUR)
  .map((ms) => ({ kind: "advance" as const, ms }));
const registerArb: fc.Arbitrary<Sym> = fc.constant({ kind: "register" as const });

/** The serial prefix: mostly creates and accepts, so there are pending and active connections to race on. */
export const prefixArb = fc.array(
  fc.oneof(
    { weight: 8, arbitrary: createArb },
    { weight: 2, arbitrary: reinviteArb },
    { weight: 3, arbitrary: acceptArb },
    { weight: 1, arbitrary: advanceArb },
    { weight: 1, arbitrary: registerArb },
    { weight: 1, arbitrary: deleteArb },
    { weight: 1, arbitrary: rejectArb },
    { weight: 1, arbitrary: bindArb },
  ),
  { minLength: 2, maxLength: 7 },
);

/** One call of a batch: the writes that race on one connection weigh most. */
export const batchCallArb = fc.oneof(
  { weight: 4, arbitrary: acceptArb },
  { weight: 4, arbitrary: deleteArb },
  { weight: 2, arbitrary: createArb },
  { weight: 3, arbitrary: reinviteArb },
  { weight: 2, arbitrary: rejectArb },
  { weight: 1, arbitrary: bindArb },
  { weight: 1, arbitrary: purgeArb },
  { weight: 1, arbitrary: resolveArb },
  { weight: 1, arbitrary: getArb },
);
