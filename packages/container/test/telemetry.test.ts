import { isInstrumented, SPANS } from "@conn/opentelemetry";
import { trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { configFromEnv, createConnectionsContainer } from "../src/index.js";
import { seed, story } from "./support.js";

afterEach(() => {
  trace.disable();
});

describe("the container's telemetry switch", () => {
  it("on by default: with an SDK registered globally, use cases and sends are traced", async () => {
    const spans = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    );
    const conn = await createConnectionsContainer({}, { inMemoryHostPorts: true });
    try {
      expect(conn.config.telemetry).toBe(true);
      expect(isInstrumented(conn.connections)).toBe(true);
      seed(conn);
      await story(conn);
      await expect
        .poll(() => spans.getFinishedSpans().map((s) => s.name), { timeout: 5_000 })
        .toEqual(expect.arrayContaining([SPANS.useCase("create"), SPANS.send]));
    } finally {
      await conn.dispose();
    }
  });

  it("CONN_TELEMETRY=off leaves the facade undecorated", async () => {
    expect(configFromEnv({ CONN_TELEMETRY: "off" })).toMatchObject({ telemetry: false });
    const conn = await createConnectionsContainer(configFromEnv({ CONN_TELEMETRY: "off" }), {
      inMemoryHostPorts: true,
    });
    try {
      expect(isInstrumented(conn.connections)).toBe(false);
    } finally {
      await conn.dispose();
    }
  });
});
