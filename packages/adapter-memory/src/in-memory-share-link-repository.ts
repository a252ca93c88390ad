import {
  type ContextRef,
  isShareLinkLive,
  type ShareLinkPage,
  type ShareLinkRecord,
  type ShareLinkRepository,
} from "@conn/core";
import type { Runner } from "./in-memory-connection-repository.js";
import { copyLink, keys, type MemoryState } from "./memory-state.js";

/** The in-memory {@link ShareLinkRepository}: the reference the other adapters are checked against. */
export class InMemoryShareLinkRepository implements ShareLinkRepository {
  constructor(
    private readonly state: MemoryState,
    private readonly run: Runner,
  ) {}

  insert(link: ShareLinkRecord): Promise<ShareLinkRecord> {
    const incoming = copyLink(link);
    return this.run.write(() => {
      if (this.state.links.has(keys.record(incoming.org, incoming._id)))
        throw new Error("in-memory unique index violated: share link id");
      this.state.putLink(incoming);
      return copyLink(incoming);
    });
  }

  findById(org: string, id: string): Promise<ShareLinkRecord | null> {
    return this.run.read(() => {
      const l = this.state.links.get(keys.record(org, id));
      return l === undefined ? null : copyLink(l);
    });
  }

  findByTokenHash(org: string, tokenHash: string): Promise<ShareLinkRecord | null> {
    return this.run.read(() => {
      const key = this.state.linkTokens.get(keys.token(org, tokenHash));
      const l = key === undefined ? undefined : this.state.links.get(key);
      return l === undefined ? null : copyLink(l);
    });
  }

  listByContext(
    org: string,
    context: ContextRef,
    page: { limit: number; startingAfter?: string | undefined },
  ): Promise<ShareLinkPage> {
    return this.run.read(() => {
      const rows = [...this.state.links.values()]
        .filter(
          (l) =>
            l.org === org &&
            l.context.object === context.object &&
            l.context._id === context._id &&
            (page.startingAfter === undefined || l._id < page.startingAfter),
        )
        .sort((a, b) => (a._id < b._id ? 1 : -1));
      return { links: rows.slice(0, page.limit).map(copyLink), hasMore: rows.length > page.limit };
    });
  }

  takeUse(org: string, id: string, now: Date): Promise<ShareLinkRecord | null> {
    return this.run.write(() => {
      const l = this.state.links.get(keys.record(org, id));
      if (l === undefined || !isShareLinkLive(l, now)) return null;
      const next = { ...copyLink(l), usesLeft: l.usesLeft - 1, updated: new Date(now) };
      this.state.putLink(next);
      return copyLink(next);
    });
  }

  revoke(org: string, id: string, now: Date): Promise<ShareLinkRecord | null> {
    return this.run.write(() => {
      const l = this.state.links.get(keys.record(org, id));
      if (l === undefined) return null;
      if (l.revokedAt !== null) return copyLink(l);
      const next = { ...copyLink(l), revokedAt: new Date(now), updated: new Date(now) };
      this.state.putLink(next);
      return copyLink(next);
    });
  }
}
