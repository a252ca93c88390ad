import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AccessLevel, acceptUrl, isInvitationKind, type Notice, type NoticeKind } from "@conn/core";
import { inject } from "vitest";

/** The emulator URL the global setup started. */
export function sesEndpoint(): string {
  return inject("sesEndpoint");
}

/** Client settings that point the AWS SDK at the local emulator. */
export function emulatorOptions(): {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
} {
  return {
    endpoint: sesEndpoint(),
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  };
}

/** An email as aws-ses-v2-local stores it (GET /store). */
export interface StoredEmail {
  messageId: string;
  from: string;
  replyTo: string[];
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { text?: string; html?: string };
  headers?: Array<{ name: string; value: string }>;
}

/** The emails stored for `recipient` (tests filter by a unique recipient, so they never depend on each other). */
export async function emailsTo(recipient: string): Promise<StoredEmail[]> {
  const res = await fetch(`${sesEndpoint()}/store`);
  if (!res.ok) throw new Error(`GET /store answered ${res.status}`);
  const store = (await res.json()) as { emails: StoredEmail[] };
  return store.emails.filter((e) => e.destination.to.includes(recipient));
}

/** The one email stored for `recipient`; fails when there is not exactly one. */
export async function onlyEmailTo(recipient: string): Promise<StoredEmail> {
  const emails = await emailsTo(recipient);
  if (emails.length !== 1) throw new Error(`expected 1 email to ${recipient}, found ${emails.length}`);
  return emails[0] as StoredEmail;
}

/** A fresh recipient address no other test uses. */
export function uniqueEmail(prefix = "ada"): string {
  return `${prefix}+${randomUUID().slice(0, 8)}@example.com`;
}

/** A 24-hex-digit id. */
export function newId(): string {
  return randomBytes(12).toString("hex");
}

/** A token as the core issues them: 43 URL-safe characters from a cryptographic source. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/** The org's invitation page; the query string checks that `&` is escaped in the HTML link. */
export const ACCEPT_BASE = "https://app.example.com/invite?org=acme&token={token}";

/** A notice of `kind` to a unique recipient, with a fresh token for invitations; `overrides` replace fields. */
export function makeNotice(kind: NoticeKind, overrides: Partial<Notice> = {}): Notice {
  const invitation = isInvitationKind(kind);
  const token = invitation ? newToken() : null;
  const contextId = newId();
  return {
    kind,
    idempotencyKey: `notice-${newId()}`,
    org: { code: "acme", name: "Acme Health" },
    recipient: {
      account: kind === "invite-new-user" ? null : newId(),
      email: uniqueEmail(),
      name: { first: "Ada", last: "Lovelace" },
    },
    context: { object: "c_prescription", _id: contextId, path: `/c_prescriptions/${contextId}`, label: null },
    connectionId: newId(),
    access: AccessLevel.Read,
    creator: { _id: newId(), name: { first: "Grace", last: "Hopper" } },
    token,
    acceptUrl: token === null ? null : acceptUrl(ACCEPT_BASE, token),
    expiresAt: invitation ? new Date("2030-01-15T12:00:00Z") : null,
    ...(kind === "access-ending"
      ? {
          accessEnding: {
            endsAt: new Date("2030-02-01T17:30:00Z"),
            audience: "target" as const,
            target: { account: newId(), name: { first: "Ada", last: "Lovelace" } },
          },
        }
      : {}),
    ...overrides,
  };
}

/** Every `href` in an HTML part, with HTML entities for `&` decoded. */
export function hrefs(htmlPart: string): string[] {
  return [...htmlPart.matchAll(/href="([^"]*)"/g)].map((m) => (m[1] ?? "").replaceAll("&amp;", "&"));
}

/** A port nothing listens on: bound once by the OS, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A response the fake SES endpoint gives: status, the SES error type and a message. */
export interface FakeSesFault {
  status: number;
  type: string;
  message: string;
}

/**
 * An HTTP server that answers every request with an SES-shaped JSON error (the `x-amzn-errortype` header and body
 * the real service sends), so the real SDK deserializes a real exception class from it.
 */
export async function fakeSesFault(
  fault: (body: string) => FakeSesFault,
): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString("utf8");
    });
    req.on("end", () => {
      const f = fault(body);
      res.writeHead(f.status, {
        "content-type": "application/json",
        "x-amzn-errortype": `${f.type}:http://internal.amazon.com/coral/com.amazon.ses/`,
        "x-amzn-requestid": randomUUID(),
      });
      res.end(JSON.stringify({ message: f.message }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
