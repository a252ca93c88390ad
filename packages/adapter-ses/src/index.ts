/**
 * @conn/adapter-ses: the `Notifier` of `@conn/core` on Amazon SES v2. Each notice (invite-existing-user,
 * invite-new-user, connection-created) becomes one email with a subject, an HTML part and a plain-text part.
 *
 * Install:
 * ```sh
 * pnpm add @conn/adapter-ses @conn/core
 * ```
 * The sending identity (`from`) must be verified in SES, and the AWS credentials need `ses:SendEmail`.
 *
 * Usage:
 * ```ts
 * import { SesNotifier } from "@conn/adapter-ses";
 * import { fr } from "date-fns/locale";
 *
 * const notifier = new SesNotifier({
 *   from: "Acme <no-reply@acme.example>",
 *   region: "eu-west-1",
 *   configurationSetName: "connections",
 *   timeZone: "Europe/Paris",
 *   locale: fr,
 *   objectLabels: { c_prescription: "prescription" },
 * });
 * await notifier.send(notice); // throws ConnectionError; `retryable` tells the outbox relay to try again
 * ```
 */
export {
  BUILT_IN_TAGS,
  parseSesNotifierOptions,
  type SesCredentialIdentity,
  type SesCredentials,
  type SesCredentialsProvider,
  type SesNotifierConfig,
  SesNotifierConfigError,
  type SesNotifierOptions,
  sesNotifierOptionsSchema,
} from "./config.js";
export { type ClassifySesErrorOptions, classifySesError, isRetryableSesError } from "./errors.js";
export { escapeHtml, html, stripControlChars } from "./escape.js";
export { IDEMPOTENCY_KEY_HEADER, SesNotifier } from "./ses-notifier.js";
export { buildTemplateData, defaultObjectLabel, type TemplateDataOptions } from "./template-data.js";
export {
  connectionCreatedTemplate,
  defaultTemplates,
  type EmailContent,
  inviteExistingUserTemplate,
  inviteNewUserTemplate,
  type NoticeTemplate,
  type NoticeTemplates,
  type TemplateData,
} from "./templates.js";
