/**
 * What the invitation page shows for a link opened in this session: the open invitation, or the reason it cannot
 * be used. The library answers the same `connectionToken` fault for every unusable token; the page asks it once as
 * the signed-in person and once anonymously (which anyone holding the link may do), then consults the host's
 * {@link InvitationLedger} to name the reason.
 */
import {
  type AccessLevel,
  type Account,
  type Connections,
  type ConnectionView,
  isConnectionError,
  type Principal,
  tokenSchema,
} from "@conn/core";
import type { InvitationLedger } from "./invitation-ledger.js";
import type { InvitationOutcome, Session } from "./sessions.js";
import { type DemoRecord, type DemoWorld, displayName } from "./world.js";

/** The facts of an open invitation, as the page shows them (never its token). */
export interface InvitationSummary {
  /** Who sent it. */
  creatorName: string;
  /** The record it shares, when the host knows it. */
  record: DemoRecord | null;
  /** The access it gives. */
  access: AccessLevel;
  /** Until when it can be accepted. */
  expiresAt: Date | null;
  /** The email address it was sent to, when it was sent to one. */
  targetEmail: string | null;
}

/** Each state of the invitation page. */
export type InvitationState =
  | {
      kind: "open";
      invitation: InvitationSummary;
      /** Who is looking: nobody signed in, the invited person, or the invited person before verifying. */
      as: "anonymous" | "target" | "unverified";
      /** The code of an accept or decline that just failed, if any. */
      failure: string | null;
    }
  | { kind: "wrong-account"; invitation: InvitationSummary }
  | {
      kind: "accepted-here";
      outcome: Extract<InvitationOutcome, { kind: "accepted" }>;
      record: DemoRecord | null;
    }
  | { kind: "declined-here"; outcome: Extract<InvitationOutcome, { kind: "declined" }> }
  | { kind: "already-accepted"; byYou: boolean; record: DemoRecord | null }
  | { kind: "declined"; creatorName: string }
  | { kind: "withdrawn"; creatorName: string }
  | { kind: "replaced"; creatorName: string }
  | { kind: "expired"; expiresAt: Date; creatorName: string }
  | { kind: "used" }
  | { kind: "unknown" }
  | { kind: "malformed" }
  | { kind: "session-ended" };

/** The HTTP status of each state: 200 when there is something to do or done, else why the link is unusable. */
export const INVITATION_STATUS: Readonly<Record<InvitationState["kind"], 200 | 400 | 403 | 404 | 410>> = {
  open: 200,
  "accepted-here": 200,
  "declined-here": 200,
  "wrong-account": 403,
  "already-accepted": 410,
  declined: 410,
  withdrawn: 410,
  replaced: 410,
  expired: 410,
  used: 410,
  unknown: 404,
  malformed: 400,
  "session-ended": 404,
};

/** What {@link readInvitation} needs. */
export interface InvitationDeps {
  connections: Connections;
  ledger: InvitationLedger;
  world: DemoWorld;
}

async function nameOf(world: DemoWorld, org: string, accountId: string): Promise<string> {
  const [account] = await world.accounts.findByIds(org, [accountId]);
  return displayName(account);
}

async function summaryOf(world: DemoWorld, org: string, view: ConnectionView): Promise<InvitationSummary> {
  return {
    creatorName: await nameOf(world, org, view.creator._id),
    record: world.recordOf(view.context),
    access: view.access,
    expiresAt: view.expiresAt === undefined ? null : new Date(view.expiresAt),
    targetEmail: view.target.email ?? null,
  };
}

/** Reads by token, or null when the library answers the (one and only) unusable-token fault. */
async function byToken(connections: Connections, principal: Principal, token: string) {
  try {
    return await connections.getByToken(principal, token);
  } catch (error) {
    if (isConnectionError(error, "cortex.invalidArgument.connectionToken")) return null;
    throw error;
  }
}

/** The active connection the link once opened, when the viewer holds it (accepted here or some other way). */
async function heldByViewer(
  deps: InvitationDeps,
  org: string,
  viewer: Account | null,
  connectionId: string,
): Promise<ConnectionView | null> {
  if (viewer === null) return null;
  try {
    const view = await deps.connections.get({ org, accountId: viewer._id }, connectionId);
    return view.state === 1 && view.target.account?._id === viewer._id ? view : null;
  } catch (error) {
    if (isConnectionError(error)) return null;
    throw error;
  }
}

/** Why a link the library no longer opens cannot be used, from what the host recorded when it sent the link. */
async function reasonFor(
  deps: InvitationDeps,
  org: string,
  token: string,
  viewer: Account | null,
): Promise<InvitationState> {
  const link = deps.ledger.find(org, token);
  if (link === null) return { kind: "unknown" };
  const creatorName = await nameOf(deps.world, org, link.creator);
  switch (link.fate) {
    case "accepted": {
      const byYou = viewer !== null && link.by === viewer._id;
      const held = byYou ? await heldByViewer(deps, org, viewer, link.connectionId) : null;
      return {
        kind: "already-accepted",
        byYou,
        record: held === null ? null : deps.world.recordOf(held.context),
      };
    }
    case "declined":
      return { kind: "declined", creatorName };
    case "withdrawn":
      return { kind: "withdrawn", creatorName };
    case "replaced":
      return { kind: "replaced", creatorName };
    case "sent": {
      // Accepted through the API rather than through this page: the viewer may hold what the link opened.
      const held = await heldByViewer(deps, org, viewer, link.connectionId);
      if (held !== null)
        return { kind: "already-accepted", byYou: true, record: deps.world.recordOf(held.context) };
      if (deps.ledger.isExpired(link) && link.expiresAt !== null)
        return { kind: "expired", expiresAt: link.expiresAt, creatorName };
      return { kind: "used" };
    }
  }
}

/** The state of the invitation behind `handle` in this session, for the signed-in `viewer` (or nobody). */
export async function readInvitation(
  deps: InvitationDeps,
  session: Session,
  handle: string,
  viewer: Account | null,
): Promise<InvitationState> {
  const link = session.invitations.get(handle);
  if (link === undefined) return { kind: "session-ended" };
  const { org } = link;
  if (link.outcome?.kind === "accepted")
    return {
      kind: "accepted-here",
      outcome: link.outcome,
      record: deps.world.recordOf(link.outcome.context),
    };
  if (link.outcome?.kind === "declined") return { kind: "declined-here", outcome: link.outcome };
  if (link.token === null || !tokenSchema.safeParse(link.token).success) return { kind: "malformed" };

  const token = link.token;
  const view = await byToken(deps.connections, { org, accountId: viewer?._id ?? null }, token);
  if (view !== null) {
    const as = viewer === null ? "anonymous" : viewer.verified ? "target" : "unverified";
    return { kind: "open", invitation: await summaryOf(deps.world, org, view), as, failure: link.failure };
  }
  if (viewer !== null) {
    // The invitation is open but not for this account: anyone holding the link may read it anonymously.
    const anonymous = await byToken(deps.connections, { org, accountId: null }, token);
    if (anonymous !== null)
      return { kind: "wrong-account", invitation: await summaryOf(deps.world, org, anonymous) };
  }
  return reasonFor(deps, org, token, viewer);
}
