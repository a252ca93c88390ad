/** Sessions: random ids, rotation, idle expiry, the CSRF check, and bounded invitation links. */
import { describe, expect, it } from "vitest";
import { SessionStore } from "../src/sessions.ts";
import { safeNext } from "../src/web-context.ts";

describe("SessionStore", () => {
  it("gives each session 256-bit random ids and CSRF tokens", () => {
    const store = new SessionStore();
    const a = store.create();
    const b = store.create();
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set([a.id, b.id, a.csrf, b.csrf]).size).toBe(4);
    expect(store.get(a.id)).toBe(a);
    expect(store.get(undefined)).toBeNull();
    expect(store.get("nope")).toBeNull();
  });

  it("rotate keeps what the session holds under a new id and a new CSRF token; the old id stops working", () => {
    const store = new SessionStore();
    const old = store.create();
    const handle = store.openInvitation(old, "acme", "t".repeat(43));
    const rotated = store.rotate(old);
    expect(rotated.id).not.toBe(old.id);
    expect(rotated.csrf).not.toBe(old.csrf);
    expect(store.get(old.id)).toBeNull();
    expect(store.get(rotated.id)?.invitations.get(handle)?.token).toBe("t".repeat(43));
  });

  it("checks the CSRF token exactly: another session's, a prefix, a non-string all fail", () => {
    const store = new SessionStore();
    const a = store.create();
    const b = store.create();
    expect(store.checkCsrf(a, a.csrf)).toBe(true);
    expect(store.checkCsrf(a, b.csrf)).toBe(false);
    expect(store.checkCsrf(a, a.csrf.slice(0, -1))).toBe(false);
    expect(store.checkCsrf(a, undefined)).toBe(false);
    expect(store.checkCsrf(a, [a.csrf])).toBe(false);
  });

  it("ends a session idle longer than idleMs, and keeps at most maxSessions (least recently used goes)", () => {
    let now = 0;
    const store = new SessionStore({ idleMs: 1000, maxSessions: 2, now: () => now });
    const a = store.create();
    now = 1001;
    expect(store.get(a.id)).toBeNull();
    const b = store.create();
    const c = store.create();
    store.get(b.id); // b used last
    const d = store.create();
    expect(store.get(c.id)).toBeNull();
    expect(store.get(b.id)).toBe(b);
    expect(store.get(d.id)).toBe(d);
  });

  it("keeps invitation links behind 128-bit handles, at most maxInvitations, and never keeps an overlong token", () => {
    const store = new SessionStore({ maxInvitations: 2 });
    const s = store.create();
    const first = store.openInvitation(s, "acme", "a".repeat(43));
    expect(first).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(store.handleFor(s, "acme", "a".repeat(43))).toBe(first);
    store.openInvitation(s, "acme", "b".repeat(43));
    store.openInvitation(s, "acme", "c".repeat(43));
    expect(s.invitations.has(first)).toBe(false);
    const long = store.openInvitation(s, "acme", "d".repeat(257));
    expect(s.invitations.get(long)?.token).toBeNull();
  });
});

describe("safeNext", () => {
  it.each([
    ["/acme/invitation/abc", "/acme/invitation/abc"],
    ["/acme/c_patient_files/f1/access", "/acme/c_patient_files/f1/access"],
    ["//evil.example/x", "/acme"],
    ["https://evil.example/", "/acme"],
    ["/\\evil.example", "/acme"],
    ["/acme?next=x", "/acme"],
    ["javascript:alert(1)", "/acme"],
    [undefined, "/acme"],
  ])("%s → %s", (next, expected) => {
    expect(safeNext(next, "acme")).toBe(expected);
  });
});
