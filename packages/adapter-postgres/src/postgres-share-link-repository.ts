import {
  ConnectionError,
  type ContextRef,
  type ShareLinkPage,
  type ShareLinkRecord,
  type ShareLinkRepository,
} from "@conn/core";
import type { Queryable } from "./database.js";
import { guard } from "./errors.js";
import { toAccessLevel } from "./rows.js";
import { type PostgresAdapterOptions, statementsBySchema } from "./schema-name.js";

/** The columns of `share_links`, in table order. */
const LINK_COLUMNS = [
  "org",
  "id",
  "context_object",
  "context_id",
  "access",
  "creator",
  "created",
  "updated",
  "expires_at",
  "uses_allowed",
  "uses_left",
  "email_domain",
  "token_hash",
  "token_seal",
  "revoked_at",
] as const;

const COLUMNS = LINK_COLUMNS.join(", ");

/** A row of `share_links` as both drivers return it. */
interface ShareLinkRow {
  org: string;
  id: string;
  context_object: string;
  context_id: string;
  access: number;
  creator: string;
  created: Date;
  updated: Date;
  expires_at: Date;
  uses_allowed: number;
  uses_left: number;
  email_domain: string | null;
  token_hash: string;
  token_seal: string;
  revoked_at: Date | null;
}

function toLink(row: ShareLinkRow): ShareLinkRecord {
  return {
    org: row.org,
    _id: row.id,
    context: { object: row.context_object, _id: row.context_id },
    access: toAccessLevel(row.access),
    creator: row.creator,
    created: new Date(row.created),
    updated: new Date(row.updated),
    expiresAt: new Date(row.expires_at),
    usesAllowed: Number(row.uses_allowed),
    usesLeft: Number(row.uses_left),
    emailDomain: row.email_domain,
    tokenHash: row.token_hash,
    tokenSeal: row.token_seal,
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
  };
}

function statementsFor(s: string) {
  const t = `${s}.share_links`;
  return {
    insert: `INSERT INTO ${t} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
      RETURNING ${COLUMNS}`,
    findById: `SELECT ${COLUMNS} FROM ${t} WHERE org = $1 AND id = $2`,
    findByTokenHash: `SELECT ${COLUMNS} FROM ${t} WHERE org = $1 AND token_hash = $2`,
    listByContext: `SELECT ${COLUMNS} FROM ${t}
      WHERE org = $1 AND context_object = $2 AND context_id = $3 AND ($4::text IS NULL OR id < $4::text)
      ORDER BY id DESC LIMIT $5`,
    // One statement: under READ COMMITTED a second redemption waiting on the row lock re-checks the WHERE against
    // the row the first one left, so a link with n uses left gives exactly n successes however many arrive at once.
    takeUse: `UPDATE ${t} SET uses_left = uses_left - 1, updated = $3
      WHERE org = $1 AND id = $2 AND revoked_at IS NULL AND expires_at > $3 AND uses_left > 0
      RETURNING ${COLUMNS}`,
    revoke: `UPDATE ${t} SET revoked_at = COALESCE(revoked_at, $3),
        updated = CASE WHEN revoked_at IS NULL THEN $3 ELSE updated END
      WHERE org = $1 AND id = $2 RETURNING ${COLUMNS}`,
  };
}

const statements = statementsBySchema(statementsFor);

/** The {@link ShareLinkRepository} on PostgreSQL or PGlite: one statement per method, every one scoped by org. */
export class PostgresShareLinkRepository implements ShareLinkRepository {
  private readonly sql: ReturnType<typeof statementsFor>;

  constructor(
    private readonly db: Queryable,
    options: PostgresAdapterOptions = {},
  ) {
    this.sql = statements(options.schema);
  }

  async insert(link: ShareLinkRecord): Promise<ShareLinkRecord> {
    const { rows } = await guard("shareLinks.insert", () =>
      this.db.query<ShareLinkRow>(this.sql.insert, [
        link.org,
        link._id,
        link.context.object,
        link.context._id,
        link.access,
        link.creator,
        link.created,
        link.updated,
        link.expiresAt,
        link.usesAllowed,
        link.usesLeft,
        link.emailDomain,
        link.tokenHash,
        link.tokenSeal,
        link.revokedAt,
      ]),
    );
    const row = rows[0];
    if (row === undefined)
      throw new ConnectionError("cortex.error.unspecified", { reason: "shareLinks.insert returned no row" });
    return toLink(row);
  }

  async findById(org: string, id: string): Promise<ShareLinkRecord | null> {
    const { rows } = await guard("shareLinks.findById", () =>
      this.db.query<ShareLinkRow>(this.sql.findById, [org, id]),
    );
    return rows[0] === undefined ? null : toLink(rows[0]);
  }

  async findByTokenHash(org: string, tokenHash: string): Promise<ShareLinkRecord | null> {
    const { rows } = await guard("shareLinks.findByTokenHash", () =>
      this.db.query<ShareLinkRow>(this.sql.findByTokenHash, [org, tokenHash]),
    );
    return rows[0] === undefined ? null : toLink(rows[0]);
  }

  async listByContext(
    org: string,
    context: ContextRef,
    page: { limit: number; startingAfter?: string | undefined },
  ): Promise<ShareLinkPage> {
    if (!Number.isInteger(page.limit) || page.limit < 1 || page.limit > 1000) {
      throw new ConnectionError("cortex.invalidArgument.unspecified", {
        reason: "limit must be an integer in 1..1000",
        path: "limit",
      });
    }
    const { rows } = await guard("shareLinks.listByContext", () =>
      this.db.query<ShareLinkRow>(this.sql.listByContext, [
        org,
        context.object,
        context._id,
        page.startingAfter ?? null,
        page.limit + 1,
      ]),
    );
    return { links: rows.slice(0, page.limit).map(toLink), hasMore: rows.length > page.limit };
  }

  async takeUse(org: string, id: string, now: Date): Promise<ShareLinkRecord | null> {
    const { rows } = await guard("shareLinks.takeUse", () =>
      this.db.query<ShareLinkRow>(this.sql.takeUse, [org, id, now]),
    );
    return rows[0] === undefined ? null : toLink(rows[0]);
  }

  async revoke(org: string, id: string, now: Date): Promise<ShareLinkRecord | null> {
    const { rows } = await guard("shareLinks.revoke", () =>
      this.db.query<ShareLinkRow>(this.sql.revoke, [org, id, now]),
    );
    return rows[0] === undefined ? null : toLink(rows[0]);
  }
}
