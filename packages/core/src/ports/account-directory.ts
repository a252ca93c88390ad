import type { Name } from "../domain/values.js";

/** A registered user of an org (docs/behaviour.md §1). */
export interface Account {
  _id: string;
  /** Trimmed and lower-cased; unique per org. */
  email: string;
  name: Name;
  verified: boolean;
}

/** The host application's accounts. */
export interface AccountDirectory {
  /** The accounts of the org with these ids (unknown ids are left out). */
  findByIds(org: string, ids: readonly string[]): Promise<Account[]>;
  /** The accounts of the org with these (lower-case) emails (unknown emails are left out). */
  findByEmails(org: string, emails: readonly string[]): Promise<Account[]>;
}
