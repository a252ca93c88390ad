import {
  type Connections,
  type ConnectionView,
  type ContextRef,
  createConnections,
  isConnectionError,
  type Principal,
  type UnitOfWork,
} from "@conn/core";
import fc from "fast-check";
import { modelRuns } from "./facade-model-contract.js";
import {
  type Answer,
  batchCallArb,
  type Call,
  type Catalog,
  describeCall,
  idName,
  prefixArb,
  resolve,
  type Sym,
  tokenName,
  touched,
} from "./linearizability-calls.js";
import {
  type Gate,
  gatePorts,
  LIN,
  LIN_CONTEXTS,
  LIN_ORG,
  LIN_PEOPLE,
  LinClock,
  LinHost,
  nameOf,
  SequentialIds,
  SequentialTokens,
} from "./linearizability-world.js";

/**
 * The linearizability check: a serial prefix of facade calls, then a small batch of calls at once, and the verdict
 * that some serial order of the batch gives the same answers and the same final state. See docs/reliability.md,
 * "Linearizability".
 */

/** How the adapter under test runs a batch. */
export type BatchMode =
  /** Truly at once (a database with a pool of separate clients): `Promise.allSettled` of the calls. */
  | "parallel"
  /** Under `fc.scheduler()`: every port call waits at a gate, and the scheduler picks which call goes next. */
  | "scheduled";

/** How an adapter runs {@link checkLinearizable}: a fresh store per batch, and a reference to replay on. */
export interface LinearizabilityFactory {
  /** How a batch runs on this adapter. */
  mode: BatchMode;
  /**
   * A fresh, empty store of the adapter under test, for one batch. `pause` is a scheduling point of its own: in
   * "scheduled" mode, while the batch runs, another call may go first there (elsewhere it resolves at once). A store
   * that does one port call's work in steps may await it between them, so the check sees what runs in between.
   */
  setup(pause: Gate): Promise<UnitOfWork>;
  /** Releases what `setup` made. */
  teardown?(store: UnitOfWork): Promise<void>;
  /** A fresh, empty store of the reference adapter (the in-memory one), for one serial replay. */
  reference(): UnitOfWork | Promise<UnitOfWork>;
}

/** Tuning of the linearizability run. */
export interface LinearizabilityOptions {
  /** Batches to run; default 200, or `CONN_FC_RUNS`, or 2000 with `CONN_SLOW=1`. */
  numRuns?: number;
  /** Replays a failure: the seed fast-check printed. */
  seed?: number;
  /** Replays a failure: the path fast-check printed. */
  path?: string;
  /** Stop at the first failure without shrinking. */
  endOnFailure?: boolean;
  /** Most calls in a batch (2..4, default 4). */
  maxBatch?: number;
  /** Test timeout in ms (default 600 000). */
  timeout?: number;
}

const as = (accountId: string | null): Principal => ({ org: LIN_ORG, accountId });
const ctxRef = (c: number): ContextRef => ({ ...(LIN_CONTEXTS[c] as ContextRef) });

/** A world: the facade over one store, with the fixed host and deterministic ids, tokens and time. */
class LinWorld {
  readonly host = new LinHost();
  readonly clock = new LinClock();
  readonly ids = new SequentialIds(this.clock);
  readonly tokens = new SequentialTokens();
  readonly connections: Connections;
  /** While true, every port call waits at the gate. */
  gating = false;
  /** Ids made from this count on are the batch's own ("new" in answers: their order depends on the run). */
  private idBoundary = Number.POSITIVE_INFINITY;
  /** Tokens issued before the batch (their fate is part of the final state). */
  private tokenBoundary = 0;

  constructor(store: UnitOfWork, gate?: Gate) {
    const on = () => this.gating;
    const wrap = <T extends object>(port: T, label: string): T =>
      gate === undefined ? port : gatePorts(port, gate, on, label);
    this.connections = createConnections({
      store: wrap(store, "store"),
      accounts: wrap(this.host, "accounts"),
      contexts: wrap(this.host, "contexts"),
      orgs: wrap(this.host, "orgs"),
      tokens: this.tokens,
      ids: this.ids,
      clock: this.clock,
    });
  }

  /** Marks the start of the batch: ids made from now on are compared as "new". */
  startBatch(): void {
    this.idBoundary = this.ids.count;
    this.tokenBoundary = this.tokens.issued.length;
  }

  private id(id: string): string {
    return /^[0-9a-f]{24}$/.test(id) && SequentialIds.countOf(id) >= this.idBoundary ? "new" : idName(id);
  }

  /** What matters of a connection view: everything but times, tokens and the ids the batch made. */
  summary(v: ConnectionView): string {
    const target =
      (v.target.account === undefined ? "" : nameOf(v.target.account._id)) +
      (v.target.email === undefined ? "" : `<${v.target.email}>`);
    const roles = [...v.roles].sort().join(",");
    return `${v.context._id} ${v.state === 0 ? "pending" : "active"} ${nameOf(v.creator._id)}→${target} access=${v.access} roles=[${roles}] id=${this.id(v._id)}`;
  }

  /** Runs one call; a `ConnectionError` is an answer (its code), anything else fails the check. */
  async perform(call: Call): Promise<Answer> {
    const c = this.connections;
    try {
      switch (call.kind) {
        case "create": {
          const entries = await c.create(as(call.caller), ctxRef(call.ctx), call.targets);
          const text = entries
            .map((e) =>
              "errCode" in e
                ? `fault ${e.errCode} for ${e.target._id === undefined ? `<${e.target.email}>` : nameOf(e.target._id)}`
                : this.summary(e as ConnectionView),
            )
            .join(" | ");
          return { text };
        }
        case "accept":
          return { text: this.summary(await c.accept(as(call.caller), call.token)) };
        case "reject":
          return { text: String(await c.reject(as(call.caller), call.token)) };
        case "delete":
          return { text: String(await c.delete(as(call.caller), call.id)) };
        case "get":
          return { text: this.summary(await c.get(as(call.caller), call.id)) };
        case "bind":
          return { text: `bound ${await c.bindRegisteredAccount(LIN_ORG, LIN.nia._id)}` };
        case "purge":
          return { text: `purged ${await c.purgeExpired(LIN_ORG)}` };
        case "resolve":
          return { text: `level ${await c.resolveAccess(LIN_ORG, call.account, ctxRef(call.ctx))}` };
        case "advance":
          this.clock.advance(call.ms);
          return { text: "advanced" };
        case "register":
          this.host.register();
          return { text: "registered" };
      }
    } catch (error) {
      if (!isConnectionError(error)) throw error;
      const cause = error.cause === undefined ? undefined : String(error.cause);
      return cause === undefined ? { text: error.code } : { text: error.code, detail: cause };
    }
  }

  /**
   * The state the check compares, read through the facade: every visible connection (as the owner lists each
   * context), the newcomer's own view (which shows bindings), every account's `resolveAccess` on every context, and
   * what each token issued before the batch opens now.
   */
  async snapshot(): Promise<string[]> {
    const c = this.connections;
    const lines: string[] = [];
    for (const ctx of LIN_CONTEXTS) {
      const page = await c.listForContext(as(LIN.owner._id), ctx, { limit: 1000 });
      for (const v of page.data) lines.push(`stored: ${this.summary(v)}`);
    }
    if (this.host.registered) {
      const page = await c.list(as(LIN.nia._id), { limit: 1000 });
      for (const v of page.data) lines.push(`nia sees: ${this.summary(v)}`);
    }
    for (const who of LIN_PEOPLE) {
      for (const [i, ctx] of LIN_CONTEXTS.entries()) {
        const level = await c.resolveAccess(LIN_ORG, LIN[who]._id, ctx);
        lines.push(`resolveAccess(${who}, ${LIN_CONTEXTS[i]?._id}) = ${level}`);
      }
    }
    for (const token of this.tokens.issued.slice(0, this.tokenBoundary)) {
      try {
        lines.push(`${tokenName(token)} opens: ${this.summary(await c.getByToken(as(null), token))}`);
      } catch (error) {
        if (!isConnectionError(error)) throw error;
        lines.push(`${tokenName(token)} opens: ${error.code}`);
      }
    }
    return lines.sort();
  }

  /** What a symbolic call can name right now; `seen` collects every id ever listed. */
  async catalog(seen: Set<string>): Promise<Catalog> {
    const c = this.connections;
    const conns: ConnectionView[] = [];
    for (const ctx of LIN_CONTEXTS) {
      conns.push(...(await c.listForContext(as(LIN.owner._id), ctx, { limit: 1000 })).data);
    }
    conns.sort((a, b) => a.state - b.state || (a._id < b._id ? -1 : 1));
    const live: Catalog["live"] = [];
    for (const token of this.tokens.issued) {
      try {
        live.push({ token, view: await c.getByToken(as(null), token) });
      } catch (error) {
        if (!isConnectionError(error)) throw error;
      }
    }
    live.sort((a, b) => (a.view._id < b.view._id ? -1 : 1));
    for (const v of conns) seen.add(v._id);
    const present = new Set(conns.map((v) => v._id));
    const gone = [...seen].filter((id) => !present.has(id)).sort();
    return { conns, live, issued: [...this.tokens.issued], gone };
  }
}

/** What a batch gave: each call's answer (in batch order) and the state after it. */
interface Outcome {
  answers: Answer[];
  state: string[];
}

/** How the batch runs on the adapter under test in one property run. */
type How = { kind: "scheduled"; scheduler: fc.Scheduler } | { kind: "parallel"; stagger: number[] };

/** What a run of {@link checkLinearizable} exercised. */
export interface LinearizabilityStats {
  /** Batches checked. */
  batches: number;
  /** Calls in those batches. */
  calls: number;
  /** Batches whose outcome only a serial order other than the batch's own order gives. */
  reordered: number;
  /** Serial orders replayed on the reference, in all. */
  ordersReplayed: number;
  /** Gates the scheduler released (scheduled mode): the points where it chose which call went next. */
  gates: number;
  /** Answers by call kind and outcome, e.g. `delete: cortex.notFound.unspecified`. */
  outcomes: Map<string, number>;
  /** Pairs of calls of one batch that named the same connection, by kinds, e.g. `accept × delete`. */
  contended: Map<string, number>;
}

/** Every order of `n` calls, the batch's own order (0, 1, …) first. */
function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) =>
    Array.from({ length: n }, (_, i) => [...p.slice(0, n - 1 - i), n - 1, ...p.slice(n - 1 - i)]),
  );
}

const delay = (ms: number) =>
  ms === 0 ? Promise.resolve() : new Promise<void>((resolve) => setTimeout(resolve, ms));

function settledAnswers(settled: PromiseSettledResult<Answer>[]): Answer[] {
  return settled.map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  });
}

/** Runs the batch on the adapter under test: under the scheduler, or truly at once. */
async function runBatch(world: LinWorld, batch: readonly Call[], how: How): Promise<Answer[]> {
  if (how.kind === "parallel") {
    const running = batch.map((call, i) => delay(how.stagger[i] ?? 0).then(() => world.perform(call)));
    return settledAnswers(await Promise.allSettled(running));
  }
  world.gating = true;
  try {
    const running = batch.map((call) => world.perform(call));
    return settledAnswers(await how.scheduler.waitFor(Promise.allSettled(running)));
  } finally {
    world.gating = false;
  }
}

/** A fresh reference world with the prefix replayed (its answers were checked when it was first run). */
async function replayPrefix(factory: LinearizabilityFactory, prefix: readonly Call[]): Promise<LinWorld> {
  const world = new LinWorld(await factory.reference());
  for (const call of prefix) await world.perform(call);
  world.startBatch();
  return world;
}

function sameOutcome(a: Outcome, b: Outcome): boolean {
  return (
    a.answers.every((x, i) => x.text === b.answers[i]?.text) &&
    a.state.length === b.state.length &&
    a.state.every((line, i) => line === b.state[i])
  );
}

const label = (i: number) => `b${i + 1}`;

/** The counterexample, written for a person: the prefix, the batch and what it gave, and what each order gives. */
function report(
  mode: BatchMode,
  prefix: readonly Call[],
  prefixAnswers: readonly Answer[],
  batch: readonly Call[],
  observed: Outcome,
  tried: { order: number[]; outcome: Outcome }[],
): string {
  const out: string[] = [
    `no serial order of the batch gives what the adapter gave (${mode}; ${tried.length} orders replayed on the reference)`,
    "prefix, one call at a time:",
    ...prefix.map((c, i) => `  p${i + 1} ${describeCall(c)} → ${prefixAnswers[i]?.text}`),
    "batch, at once:",
    ...batch.map((c, i) => {
      const a = observed.answers[i];
      return `  ${label(i)} ${describeCall(c)} → ${a?.text}${a?.detail === undefined ? "" : ` (${a.detail})`}`;
    }),
    "state after the batch:",
    ...observed.state.map((line) => `  ${line}`),
    "what each serial order gives instead:",
  ];
  for (const { order, outcome } of tried.slice(0, 6)) {
    const diffs: string[] = [];
    outcome.answers.forEach((a, i) => {
      if (a.text !== observed.answers[i]?.text) diffs.push(`${label(i)} → ${a.text}`);
    });
    const seen = new Set(observed.state);
    const theirs = new Set(outcome.state);
    for (const line of outcome.state) if (!seen.has(line)) diffs.push(`+ ${line}`);
    for (const line of observed.state) if (!theirs.has(line)) diffs.push(`- ${line}`);
    out.push(`  ${order.map(label).join(", ")}: ${diffs.join("; ")}`);
  }
  if (tried.length > 6) out.push(`  … and ${tried.length - 6} more orders`);
  return out.join("\n");
}

/** One property run: the prefix, the batch on the adapter under test, then the search for a serial order. */
async function checkBatch(
  factory: LinearizabilityFactory,
  prefixSyms: readonly Sym[],
  batchSyms: readonly Sym[],
  how: How,
  stats: LinearizabilityStats,
): Promise<void> {
  // The prefix runs on the reference first: each symbolic call is resolved against the state it meets there.
  const reference = new LinWorld(await factory.reference());
  const seen = new Set<string>();
  const prefix: Call[] = [];
  const prefixAnswers: Answer[] = [];
  for (const sym of prefixSyms) {
    const call = resolve(sym, await reference.catalog(seen));
    prefix.push(call);
    prefixAnswers.push(await reference.perform(call));
  }
  reference.startBatch();
  const catalog = await reference.catalog(seen);
  const batch = batchSyms.map((sym) => resolve(sym, catalog));
  const touches = batch.map((call) => touched(call, catalog));

  const gate =
    how.kind === "scheduled"
      ? (name: string) => {
          stats.gates++;
          return how.scheduler.schedule(Promise.resolve(name), name);
        }
      : undefined;
  // The world gates while its batch runs; the store, made before it, pauses only then too.
  let world: LinWorld | undefined;
  const store = await factory.setup((name) =>
    gate !== undefined && world?.gating === true ? gate(name) : Promise.resolve(name),
  );
  let observed: Outcome;
  try {
    world = new LinWorld(store, gate);
    for (const [i, call] of prefix.entries()) {
      const got = await world.perform(call);
      const expected = prefixAnswers[i] as Answer;
      if (got.text !== expected.text) {
        throw new Error(
          `the serial prefix already differs from the reference at p${i + 1} ${describeCall(call)}:\n` +
            `  adapter:   ${got.text}${got.detail === undefined ? "" : ` (${got.detail})`}\n  reference: ${expected.text}`,
        );
      }
    }
    world.startBatch();
    const answers = await runBatch(world, batch, how);
    observed = { answers, state: await world.snapshot() };
  } finally {
    await factory.teardown?.(store);
  }
  stats.batches++;
  stats.calls += batch.length;
  batch.forEach((call, i) => {
    const text = observed.answers[i]?.text ?? "";
    const key = `${call.kind}: ${text.startsWith("cortex.") ? text : "ok"}`;
    stats.outcomes.set(key, (stats.outcomes.get(key) ?? 0) + 1);
    for (let j = i + 1; j < batch.length; j++) {
      if (touches[i] === null || touches[i] !== touches[j]) continue;
      const pair = [call.kind, (batch[j] as Call).kind].sort().join(" × ");
      stats.contended.set(pair, (stats.contended.get(pair) ?? 0) + 1);
    }
  });

  const tried: { order: number[]; outcome: Outcome }[] = [];
  for (const [n, order] of permutations(batch.length).entries()) {
    const world = n === 0 ? reference : await replayPrefix(factory, prefix);
    const answers: Answer[] = new Array(batch.length);
    for (const i of order) answers[i] = await world.perform(batch[i] as Call);
    const outcome = { answers, state: await world.snapshot() };
    stats.ordersReplayed++;
    if (sameOutcome(outcome, observed)) {
      if (n > 0) stats.reordered++;
      return;
    }
    tried.push({ order, outcome });
  }
  throw new Error(report(factory.mode, prefix, prefixAnswers, batch, observed, tried));
}

/** A fresh, empty tally. */
function newStats(): LinearizabilityStats {
  return {
    batches: 0,
    calls: 0,
    reordered: 0,
    ordersReplayed: 0,
    gates: 0,
    outcomes: new Map(),
    contended: new Map(),
  };
}

/**
 * Runs the linearizability property once (no test registration): batches of 2–4 concurrent facade calls after a
 * serial prefix, on the adapter under test; each must give the answers and the final state of some serial order of
 * its calls, replayed on the reference. Rejects with fast-check's report (seed, path, the counterexample) when one
 * does not; resolves with what the run exercised.
 */
export async function checkLinearizable(
  factory: LinearizabilityFactory,
  options: LinearizabilityOptions = {},
): Promise<LinearizabilityStats> {
  const stats = newStats();
  const params: fc.Parameters<unknown> = { numRuns: modelRuns(options), includeErrorInReport: true };
  if (options.seed !== undefined) params.seed = options.seed;
  if (options.path !== undefined) params.path = options.path;
  if (options.endOnFailure !== undefined) params.endOnFailure = options.endOnFailure;
  const maxLength = Math.min(4, Math.max(2, options.maxBatch ?? 4));
  const batchArb = fc.array(batchCallArb, { minLength: 2, maxLength });
  if (factory.mode === "scheduled") {
    await fc.assert(
      fc.asyncProperty(prefixArb, batchArb, fc.scheduler(), (prefix, batch, scheduler) =>
        checkBatch(factory, prefix, batch, { kind: "scheduled", scheduler }, stats),
      ),
      params as fc.Parameters<[Sym[], Sym[], fc.Scheduler]>,
    );
  } else {
    const staggerArb = fc.array(fc.constantFrom(0, 0, 0, 1, 2), { minLength: 4, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(prefixArb, batchArb, staggerArb, (prefix, batch, stagger) =>
        checkBatch(factory, prefix, batch, { kind: "parallel", stagger }, stats),
      ),
      params as fc.Parameters<[Sym[], Sym[], number[]]>,
    );
  }
  if (process.env.CONN_FC_STATS === "1") console.log(formatStats(factory.mode, stats));
  return stats;
}

/** The tally as printed with `CONN_FC_STATS=1`. */
export function formatStats(mode: BatchMode, stats: LinearizabilityStats): string {
  const lines = [...stats.outcomes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `  ${k}: ${v}`);
  return [
    `linearizability (${mode}): ${stats.batches} batches, ${stats.calls} calls, ${stats.gates} scheduling points, ` +
      `${stats.ordersReplayed} serial orders replayed, ${stats.reordered} batches explained only by a reordering`,
    ...lines,
    "pairs of calls on one connection:",
    ...[...stats.contended].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `  ${k}: ${v}`),
  ].join("\n");
}
