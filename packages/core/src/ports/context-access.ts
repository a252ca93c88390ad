import type { AccessLevel } from "../domain/access-level.js";
import type { ObjectSettings, OrgSettings } from "../domain/settings.js";
import type { ContextRef } from "../domain/values.js";

/** The host application's own access rules: ownership, roles, its ACL. */
export interface ContextAccess {
  /** The access `account` holds on `context` by the host's own rules (0 when none); `context.object` may be "account". */
  accessOf(org: string, account: string, context: ContextRef): Promise<AccessLevel>;
  /** The connection settings of an object, or null when the org has no such object. */
  objectSettings(org: string, object: string): Promise<ObjectSettings | null>;
}

/** The org settings of docs/behaviour.md §10. */
export interface OrgDirectory {
  /** The settings of the org, or null when there is no such org. */
  get(org: string): Promise<OrgSettings | null>;
}
