import {
  AccountSuspendedException,
  BadRequestException,
  InternalServiceErrorException,
  MailFromDomainNotVerifiedException,
  MessageRejected,
  NotFoundException,
  SendingPausedException,
  TooManyRequestsException,
} from "@aws-sdk/client-sesv2";
import { ConnectionError, isConnectionError, parseOutboxRelayOptions } from "@conn/core";
import { afterEach, describe, expect, it, vi } from "vitest";
import { classifySesError, isRetryableSesError, parseSesNotifierOptions, SesNotifier } from "../src/index.js";
import { closedPort, type FakeSesFault, fakeSesFault, makeNotice } from "./helpers.js";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const $metadata = { httpStatusCode: 400, requestId: "req-1", attempts: 1, totalRetryDelay: 0 };

/** The error `promise` rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<ConnectionError> {
  const result = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!isConnectionError(result)) throw new Error(`expected a ConnectionError, got ${String(result)}`);
  return result;
}

const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((close) => close()));
});

/** A notifier whose SES answers every request with `fault` (the real SDK parses the answer). */
async function notifierAgainst(fault: (body: string) => FakeSesFault): Promise<SesNotifier> {
  const server = await fakeSesFault(fault);
  servers.push(server.close);
  return new SesNotifier({
    from: "no-reply@acme.example",
    endpoint: server.endpoint,
    region: "us-east-1",
    credentials,
    maxAttempts: 1,
  });
}

describe("SesNotifier.send() when SES is unreachable", () => {
  it("throws a retryable ConnectionError with the network fault as cause and no token in the message", async () => {
    const port = await closedPort();
    const notifier = new SesNotifier({
      from: "no-reply@acme.example",
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      credentials,
      maxAttempts: 2,
    });
    const notice = makeNotice("invite-existing-user");
    const err = await rejection(notifier.send(notice));

    expect(err.code).toBe("cortex.error.unspecified");
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("ECONNREFUSED");
    expect((err.cause as { code?: string }).code).toBe("ECONNREFUSED");
    expect(err.message).not.toContain(notice.token ?? "<no token>");
    expect(JSON.stringify(err.toFault())).not.toContain(notice.token ?? "<no token>");
  });
});

describe("SesNotifier.send() when SES answers with an error", () => {
  it("classifies MessageRejected as permanent and scrubs an echoed token from every message", async () => {
    const notifier = await notifierAgainst((body) => ({
      status: 400,
      type: "MessageRejected",
      // The fake service echoes the request body, token included, as a careless upstream might.
      message: `Email address is not verified. Request was: ${body}`,
    }));
    const notice = makeNotice("invite-new-user");
    const token = notice.token ?? "<no token>";
    const err = await rejection(notifier.send(notice));

    expect(err.retryable).toBe(false);
    expect(err.reason).toBe("MessageRejected");
    expect(err.cause).toBeInstanceOf(MessageRejected);
    expect(err.message).toContain("MessageRejected");
    expect(err.message).toContain("[redacted]");
    expect(err.message).not.toContain(token);
    const cause = err.cause as MessageRejected;
    expect(cause.message).not.toContain(token);
    expect(String(cause.stack)).not.toContain(token);
  });

  it.each([
    ["TooManyRequestsException", 429],
    ["InternalServiceErrorException", 500],
    ["ServiceUnavailable", 503],
  ])("classifies %s (HTTP %i) as retryable", async (type, status) => {
    const notifier = await notifierAgainst(() => ({ status, type, message: "try later" }));
    const err = await rejection(notifier.send(makeNotice("connection-created")));
    expect(err.retryable).toBe(true);
    expect(err.reason).toBe(type);
    expect((err.cause as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(status);
  });

  it.each([
    ["BadRequestException", 400],
    ["AccountSuspendedException", 400],
    ["SendingPausedException", 400],
    ["MailFromDomainNotVerifiedException", 400],
    ["NotFoundException", 404],
  ])("classifies %s (HTTP %i) as permanent", async (type, status) => {
    const notifier = await notifierAgainst(() => ({ status, type, message: "no" }));
    const err = await rejection(notifier.send(makeNotice("connection-created")));
    expect(err.retryable).toBe(false);
    expect(err.reason).toBe(type);
  });
});

describe("classifySesError()", () => {
  it("classifies the SDK's permanent exception classes as not retryable", () => {
    const errors = [
      new MessageRejected({ message: "Email address is not verified.", $metadata }),
      new BadRequestException({ message: "Invalid address", $metadata }),
      new AccountSuspendedException({ message: "suspended", $metadata }),
      new SendingPausedException({ message: "paused", $metadata }),
      new MailFromDomainNotVerifiedException({ message: "mail from", $metadata }),
      new NotFoundException({
        message: "configuration set",
        $metadata: { ...$metadata, httpStatusCode: 404 },
      }),
    ];
    for (const sdkError of errors) {
      const err = classifySesError(sdkError);
      expect(err, sdkError.name).toBeInstanceOf(ConnectionError);
      expect(err.retryable, sdkError.name).toBe(false);
      expect(err.code).toBe("cortex.error.unspecified");
      expect(err.cause).toBe(sdkError);
      expect(err.reason).toBe(sdkError.name);
    }
  });

  it("classifies throttling, 5xx and network faults as retryable", () => {
    const throttled = new TooManyRequestsException({
      message: "slow down",
      $metadata: { httpStatusCode: 429 },
    });
    const internal = new InternalServiceErrorException({
      message: "oops",
      $metadata: { httpStatusCode: 500 },
    });
    const legacyThrottle = Object.assign(new Error("Rate exceeded"), {
      name: "Throttling",
      $metadata: { httpStatusCode: 400 },
    });
    const bareGateway = Object.assign(new Error("Bad Gateway"), {
      name: "Unknown",
      $metadata: { httpStatusCode: 502 },
    });
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    const reset = Object.assign(new Error("socket hang up"), {
      code: "ECONNRESET",
      $metadata: { attempts: 3 },
    });
    for (const sdkError of [throttled, internal, legacyThrottle, bareGateway, refused, reset]) {
      expect(classifySesError(sdkError).retryable, sdkError.message).toBe(true);
      expect(isRetryableSesError(sdkError), sdkError.message).toBe(true);
    }
  });

  it("classifies an unnamed 4xx answer as permanent", () => {
    const unknown400 = Object.assign(new Error("Bad Request Exception"), {
      name: "Unknown",
      $metadata: { httpStatusCode: 400 },
    });
    expect(classifySesError(unknown400).retryable).toBe(false);
  });

  it("removes the given secrets from its message and from the cause", () => {
    const secret = "s3cr3t-token-value-0123456789abcdef";
    const sdkError = new MessageRejected({ message: `rejected https://x.example/?t=${secret}`, $metadata });
    const err = classifySesError(sdkError, { secrets: [secret] });
    expect(err.message).not.toContain(secret);
    expect(sdkError.message).not.toContain(secret);
    expect(err.message).toContain("rejected https://x.example/?t=[redacted]");
  });

  it("returns a ConnectionError unchanged", () => {
    const original = new ConnectionError("cortex.error.unspecified", { retryable: false, reason: "x" });
    expect(classifySesError(original)).toBe(original);
  });
});

/** A server that accepts requests and never answers; counts requests and those still open. */
async function stallingSes() {
  const { createServer } = await import("node:http");
  const state = { requests: 0, open: 0 };
  const server = createServer((req) => {
    state.requests++;
    state.open++;
    req.socket.once("close", () => state.open--);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, state };
}

describe("SesNotifier.send() when SES hangs", () => {
  it("gives up after requestTimeoutMs with a retryable error, so a hung send never outlasts the relay's lease", async () => {
    const ses = await stallingSes();
    const notifier = new SesNotifier({
      from: "no-reply@acme.example",
      endpoint: ses.endpoint,
      region: "us-east-1",
      credentials,
      maxAttempts: 1,
      requestTimeoutMs: 300,
    });
    const notice = makeNotice("invite-existing-user");
    const started = Date.now();
    const err = await rejection(notifier.send(notice));
    expect(err.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err.message).not.toContain(notice.token ?? "<no token>");
  });

  it("sendTimeoutMs bounds the whole send across the SDK's attempts: the attempt in flight is aborted, no other starts", async () => {
    const ses = await stallingSes();
    // Without the overall deadline this send would take 3 attempts × 60 s.
    const notifier = new SesNotifier({
      from: "no-reply@acme.example",
      endpoint: ses.endpoint,
      region: "us-east-1",
      credentials,
      maxAttempts: 3,
      requestTimeoutMs: 60_000,
      sendTimeoutMs: 300,
    });
    const notice = makeNotice("invite-existing-user");
    const err = await rejection(notifier.send(notice));
    expect(err).toMatchObject({ retryable: true, reason: "sendTimeout" });
    expect(err.message).toContain("300 ms");
    expect(err.message).not.toContain(notice.token ?? "<no token>");
    expect(ses.state.requests).toBe(1);
    // The stalled request was really abandoned (its connection closed): nothing can still deliver it.
    await vi.waitFor(() => expect(ses.state.open).toBe(0), { timeout: 2_000 });
    expect(ses.state.requests).toBe(1);
  }, 15_000);

  it("the caller's signal (the relay's deadline) aborts the send in flight", async () => {
    const ses = await stallingSes();
    const notifier = new SesNotifier({
      from: "no-reply@acme.example",
      endpoint: ses.endpoint,
      region: "us-east-1",
      credentials,
      sendTimeoutMs: 60_000,
      requestTimeoutMs: 60_000,
    });
    const controller = new AbortController();
    const sending = rejection(notifier.send(makeNotice("connection-created"), { signal: controller.signal }));
    await vi.waitFor(() => expect(ses.state.requests).toBe(1));
    controller.abort();
    expect(await sending).toMatchObject({ retryable: true, reason: "aborted" });
    await vi.waitFor(() => expect(ses.state.open).toBe(0), { timeout: 2_000 });
  }, 15_000);

  it("the defaults are chosen with the relay's: an SES send ends before the relay's deadline, which ends inside the lease", () => {
    const ses = parseSesNotifierOptions({ from: "no-reply@acme.example" });
    const relay = parseOutboxRelayOptions();
    expect(ses.sendTimeoutMs).toBe(10_000);
    expect(ses.sendTimeoutMs).toBeLessThan(relay.sendTimeoutMs);
    expect(relay.sendTimeoutMs + relay.leaseMarginMs).toBeLessThan(relay.leaseMs);
  });
});
