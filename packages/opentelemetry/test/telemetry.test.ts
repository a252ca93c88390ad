import { CryptoRandom, createInMemoryConnections } from "@conn/adapter-memory";
import { ConnectionError, type Connections, OutboxRelay } from "@conn/core";
import { SpanStatusCode } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { beforeEach, describe, expect, it } from "vitest";
import {
  ATTRIBUTES,
  INSTRUMENTATION_SCOPE,
  instrumentConnections,
  isInstrumented,
  METRICS,
  observeOutbox,
  outboxObserver,
  SPANS,
} from "../src/index.js";

const ORG = "acme";
const OWNER = "6a0000000000000000000001";
const BOB = "6a0000000000000000000002";
const FILE = { object: "c_patient_file", _id: "6f0000000000000000000001" };
/** Every personal datum of the run: none may appear in a span or a metric. */
const PERSONAL = ["bob@acme.test", "carol@acme.test", "owner@acme.test", "Robert", "Bobson", "Carol", "Olga"];

let spans: InMemorySpanExporter;
let metricExporter: InMemoryMetricExporter;
let reader: PeriodicExportingMetricReader;
let providers: { tracerProvider: BasicTracerProvider; meterProvider: MeterProvider };

beforeEach(() => {
  spans = new InMemorySpanExporter();
  metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  providers = {
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    meterProvider: new MeterProvider({ readers: [reader] }),
  };
});

/** The data points of each metric, by name, after a collection. */
async function collect(): Promise<Map<string, DataPoint<unknown>[]>> {
  metricExporter.reset();
  await reader.forceFlush();
  const out = new Map<string, DataPoint<unknown>[]>();
  for (const resource of metricExporter.getMetrics()) {
    for (const scope of resource.scopeMetrics) {
      expect(scope.scope.name).toBe(INSTRUMENTATION_SCOPE);
      for (const metric of scope.metrics)
        out.set(metric.descriptor.name, metric.dataPoints as DataPoint<unknown>[]);
    }
  }
  return out;
}

function world() {
  const lib = createInMemoryConnections({ deliverOnCommit: false });
  lib.orgs.put({ code: ORG, name: "Acme Health", connectionUrl: "https://acme.test/invite/{token}" });
  lib.contexts.defineObject(ORG, { name: FILE.object, allowConnections: true });
  lib.accounts.put(ORG, { _id: OWNER, email: "owner@acme.test", name: { first: "Olga" }, verified: true });
  lib.accounts.put(ORG, {
    _id: BOB,
    email: "bob@acme.test",
    name: { first: "Robert", last: "Bobson" },
    verified: true,
  });
  lib.contexts.grant(ORG, OWNER, FILE, 7);
  const relay = new OutboxRelay(
    {
      outbox: lib.store.outbox,
      notifier: lib.notifier,
      tokens: lib.tokens,
      clock: lib.clock,
      random: new CryptoRandom(),
      observer: outboxObserver(providers),
    },
    { concurrency: 1 },
  );
  return { lib, relay, connections: instrumentConnections(lib.connections, providers) };
}

/** Runs a small story: an invitation by account and one by email, an accept, a bad accept, access checks. */
async function story(connections: Connections, relay: OutboxRelay, lib: ReturnType<typeof world>["lib"]) {
  const owner = { org: ORG, accountId: OWNER };
  await connections.create(owner, FILE, [{ _id: BOB, access: 4 }]);
  await connections.create(owner, FILE, [{ email: "carol@acme.test", name: { first: "Carol" } }]);
  lib.notifier.failWith((n) =>
    n.kind === "invite-new-user"
      ? new ConnectionError("cortex.error.unspecified", {
          retryable: false,
          message: `mailbox unavailable for ${n.recipient.email}`,
        })
      : null,
  );
  await relay.drain();
  const token = lib.notifier.sent[0]?.token as string;
  await connections.accept({ org: ORG, accountId: BOB }, token);
  await expect(connections.accept({ org: ORG, accountId: BOB }, "A".repeat(43))).rejects.toThrow(
    ConnectionError,
  );
  for (let i = 0; i < 3; i++) await connections.resolveAccess(ORG, BOB, FILE);
  return token;
}

describe("instrumentConnections: a span per use case, resolveAccess latency", () => {
  it("spans each call with its org, context object and target count; a failure carries its spec code", async () => {
    const { lib, relay, connections } = world();
    await story(connections, relay, lib);
    const finished = spans.getFinishedSpans();
    const byName = (name: string) => finished.filter((s) => s.name === name);
    const [create] = byName(SPANS.useCase("create"));
    expect(create?.attributes).toEqual({
      [ATTRIBUTES.operation]: "create",
      [ATTRIBUTES.org]: ORG,
      [ATTRIBUTES.contextObject]: FILE.object,
      [ATTRIBUTES.targets]: 1,
      [ATTRIBUTES.outcome]: "ok",
    });
    const accepts = byName(SPANS.useCase("accept"));
    expect(accepts.map((s) => s.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.ERROR]);
    expect(accepts[1]?.attributes).toMatchObject({
      [ATTRIBUTES.errorType]: "cortex.invalidArgument.connectionToken",
      [ATTRIBUTES.outcome]: "error",
      [ATTRIBUTES.retryable]: false,
    });
    expect(accepts[1]?.status.message).toBe("cortex.invalidArgument.connectionToken");
    expect(byName(SPANS.useCase("resolveAccess"))).toHaveLength(3);
    expect(isInstrumented(connections)).toBe(true);
    expect(instrumentConnections(connections, providers)).toBe(connections);
  });

  it("records resolveAccess latency in seconds, by outcome", async () => {
    const { lib, relay, connections } = world();
    await story(connections, relay, lib);
    await expect(connections.resolveAccess(ORG, "not an id!", FILE)).rejects.toThrow(ConnectionError);
    const points = (await collect()).get(METRICS.resolveAccessDuration) as DataPoint<Histogram>[];
    const ok = points.find((p) => p.attributes[ATTRIBUTES.outcome] === "ok");
    const failed = points.find((p) => p.attributes[ATTRIBUTES.outcome] === "error");
    expect(ok?.value.count).toBe(3);
    expect(ok?.value.sum).toBeGreaterThan(0);
    expect(ok?.value.sum).toBeLessThan(60);
    expect(failed?.value.count).toBe(1);
    expect(failed?.attributes[ATTRIBUTES.errorType]).toMatch(/^cortex\./);
  });
});

describe("outboxObserver and observeOutbox", () => {
  it("a span per send with kind, attempt and outcome; sends counted by outcome; dead letters counted", async () => {
    const { lib, relay, connections } = world();
    await story(connections, relay, lib);
    const sends = spans.getFinishedSpans().filter((s) => s.name === SPANS.send);
    expect(
      sends.map((s) => [s.attributes[ATTRIBUTES.noticeKind], s.attributes[ATTRIBUTES.outcome]]).sort(),
    ).toEqual([
      ["invite-existing-user", "delivered"],
      ["invite-new-user", "dead"],
    ]);
    const dead = sends.find((s) => s.attributes[ATTRIBUTES.outcome] === "dead");
    expect(dead?.status).toEqual({ code: SpanStatusCode.ERROR, message: "cortex.error.unspecified" });
    expect(dead?.attributes).toMatchObject({ [ATTRIBUTES.org]: ORG, [ATTRIBUTES.attempt]: 1 });
    const metrics = await collect();
    const counted = (metrics.get(METRICS.sends) ?? []).map((p) => [
      p.attributes[ATTRIBUTES.outcome],
      p.value,
    ]);
    expect(counted.sort()).toEqual([
      ["dead", 1],
      ["delivered", 1],
    ]);
    expect(metrics.get(METRICS.deadLettered)?.[0]?.value).toBe(1);
  });

  it("gauges read the relay's stats: pending, due, oldest due age, dead; unregistering stops them", async () => {
    const { lib, relay, connections } = world();
    const stop = observeOutbox(relay, providers, () => lib.clock.now());
    await story(connections, relay, lib);
    const other = { ...FILE, _id: "6f0000000000000000000002" };
    lib.contexts.grant(ORG, OWNER, other, 7);
    await connections.create({ org: ORG, accountId: OWNER }, other, [{ _id: BOB }]);
    lib.clock.advance(90_000);
    const metrics = await collect();
    const value = (name: string) => metrics.get(name)?.[0]?.value;
    expect(value(METRICS.pending)).toBe(1);
    expect(value(METRICS.due)).toBe(1);
    expect(value(METRICS.dead)).toBe(1);
    expect(value(METRICS.oldestDueAge)).toBe(90);
    stop();
    const third = { ...FILE, _id: "6f0000000000000000000003" };
    lib.contexts.grant(ORG, OWNER, third, 7);
    await connections.create({ org: ORG, accountId: OWNER }, third, [{ _id: BOB }]);
    // No longer read: a collection reports no new figure (2 pending would show it was).
    expect((await collect()).get(METRICS.pending)?.some((p) => p.value === 2) ?? false).toBe(false);
  });

  it("never puts a token, an email address or a name in a span or a metric", async () => {
    const { lib, relay, connections } = world();
    const stop = observeOutbox(relay, providers, () => lib.clock.now());
    const token = await story(connections, relay, lib);
    const exported = JSON.stringify({
      spans: spans.getFinishedSpans().map((s) => ({
        name: s.name,
        attributes: s.attributes,
        status: s.status,
        events: s.events,
      })),
      metrics: [...(await collect())].map(([name, points]) => [name, points.map((p) => p.attributes)]),
    });
    expect(exported).toContain(ORG);
    for (const secret of [token, encodeURIComponent(token), ...PERSONAL, OWNER, BOB])
      expect(exported).not.toContain(secret);
    stop();
  });

  it("without an SDK it is a no-op: the facade answers the same and nothing is recorded anywhere", async () => {
    const { lib, relay } = world();
    const plain = instrumentConnections(lib.connections);
    await story(plain, relay, lib);
    expect(await plain.resolveAccess(ORG, BOB, FILE)).toBe(4);
    const stop = observeOutbox(relay);
    stop();
  });
});
