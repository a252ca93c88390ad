import type { AccessLevel } from "../domain/access-level.js";
import type { ObjectSettings, OrgSettings } from "../domain/settings.js";
import type { ContextRef } from "../domain/values.js";
import type { Awaitable } from "./awaitable.js";

/** The host application's own access rules: ownership, roles, its ACL. */
export interface ContextAccess {
  /**
   * The access `account` holds on `context` by the host's own rules (0 when none); `context.object` may be "account".
   * On every `resolveAccess`: a host that knows the answer at once may return it as it is, without a promise.
   */
  accessOf(org: string, account: string, context: ContextRef): Awaitable<AccessLevel>;
  /** The connection settings of an object, or null when the org has no such object. */
  objectSettings(org: string, object: string): Promise<ObjectSettings | null>;
}

/** The org settings of docs/behaviour.md §10. */
export interface OrgDirectory {
  /** The settings of the org, or null when there is no such org. */
  get(org: string): Promise<OrgSettings | null>;
}
