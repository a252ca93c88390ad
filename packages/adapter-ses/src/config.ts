import type { SESv2Client } from "@aws-sdk/client-sesv2";
import { format, type Locale } from "date-fns";
import { enUS } from "date-fns/locale/en-US";
import { z } from "zod";
import type { NoticeTemplate } from "./templates.js";

/** The plain address part of an email address, as SES accepts it (ASCII, no spaces, no control characters). */
const ADDRESS =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** `Display Name <address>`: printable ASCII name (RFC 2047-encode anything else), no angle brackets in it. */
const NAMED_ADDRESS = /^([\x20-\x7e]{1,256}?)\s*<([^<>\s]+)>$/;

/** True when `value` is `address` or `Display Name <address>` with no control characters. */
function isMailbox(value: string): boolean {
  if (ADDRESS.test(value)) return true;
  const named = NAMED_ADDRESS.exec(value);
  return named !== null && !/[<>]/.test(named[1] ?? "") && ADDRESS.test(named[2] ?? "");
}

const mailbox = z
  .string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") })
  .trim()
  .refine(
    isMailbox,
    'must be an email address such as "no-reply@example.com" or "Acme <no-reply@example.com>"',
  );

/** SES's charset for tag names and values, configuration set names. */
const SES_NAME = /^[A-Za-z0-9_-]+$/;

/** The tag names the notifier always sets; a host's static tags may not reuse them. */
export const BUILT_IN_TAGS = {
  connectionId: "connection_id",
  kind: "notice_kind",
  idempotencyKey: "idempotency_key",
} as const;

const reservedTagNames: ReadonlySet<string> = new Set(Object.values(BUILT_IN_TAGS));

/** True when `tz` is an IANA time zone this runtime knows (e.g. `Europe/Paris`, `UTC`). */
function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** date-fns `format`'s tokenizer: a letter run, a quoted literal, or one other character. */
const DATE_TOKENS = /[yYQqMLwIdDecihHKkms]o|(\w)\1*|''|'(''|[^'])+('|$)|./g;

/**
 * True when date-fns `format` accepts `pattern` (it throws on unescaped letters such as `YYYY`). Week-numbering years
 * (`Y…`) and days of the year (`D…`) are refused here, before date-fns would print a warning for them on stderr: a
 * notice's date wants `yyyy` and `d`.
 */
function isDateFormat(pattern: string): boolean {
  for (const [token] of pattern.matchAll(DATE_TOKENS)) {
    if (/^(Y+|D+)$/.test(token)) return false;
  }
  try {
    format(new Date(0), pattern, { locale: enUS });
    return true;
  } catch {
    return false;
  }
}

/** True when `value` looks like a date-fns `Locale` (has a `code` and the `localize` / `formatLong` tables). */
function isLocale(value: unknown): value is Locale {
  if (typeof value !== "object" || value === null) return false;
  const l = value as Record<string, unknown>;
  return typeof l.code === "string" && typeof l.localize === "object" && typeof l.formatLong === "object";
}

/** True when `value` can serve as the SES client: anything with a `send` method (an `SESv2Client`). */
function isClient(value: unknown): value is SESv2Client {
  return (
    typeof value === "object" && value !== null && typeof (value as { send?: unknown }).send === "function"
  );
}

/** Static AWS credentials, the shape the AWS SDK's credential providers resolve to. */
export interface SesCredentialIdentity {
  /** The access key id. */
  readonly accessKeyId: string;
  /** The secret access key. */
  readonly secretAccessKey: string;
  /** The session token of temporary credentials. */
  readonly sessionToken?: string;
  /** When temporary credentials expire. */
  readonly expiration?: Date;
}

/** A credentials provider, e.g. `fromNodeProviderChain()` from `@aws-sdk/credential-providers`. */
export type SesCredentialsProvider = (
  identityProperties?: Record<string, unknown>,
) => Promise<SesCredentialIdentity>;

/** AWS credentials, or a provider of them, as `SESv2Client` accepts. */
export type SesCredentials = SesCredentialIdentity | SesCredentialsProvider;

const credentialsSchema = z.union(
  [
    z.custom<SesCredentialsProvider>((v) => typeof v === "function"),
    z
      .object({
        accessKeyId: z.string().min(1, "must not be empty"),
        secretAccessKey: z.string().min(1, "must not be empty"),
        sessionToken: z.string().optional(),
        expiration: z.date().optional(),
      })
      .transform(
        ({ sessionToken, expiration, ...keys }): SesCredentialIdentity => ({
          ...keys,
          ...(sessionToken === undefined ? {} : { sessionToken }),
          ...(expiration === undefined ? {} : { expiration }),
        }),
      ),
  ],
  { error: "must be a credentials provider function or { accessKeyId, secretAccessKey, sessionToken? }" },
);

const templateSchema = z.custom<NoticeTemplate>(
  (v) => typeof v === "function",
  "must be a function (data: TemplateData) => { subject, html, text }",
);

/** The zod schema of {@link SesNotifierOptions}; `new SesNotifier(options)` parses with it. */
export const sesNotifierOptionsSchema = z
  .object({
    from: mailbox,
    replyTo: z.union([mailbox, z.array(mailbox).min(1, "must list at least one address")]).optional(),
    configurationSetName: z
      .string()
      .max(64, "must be at most 64 characters")
      .regex(SES_NAME, "letters, digits, '_' and '-' only")
      .optional(),
    tags: z
      .record(
        z
          .string()
          .min(1)
          .max(256)
          .regex(SES_NAME, "tag names: letters, digits, '_' and '-' only")
          .refine((name) => !reservedTagNames.has(name), "this tag name is set by the notifier itself"),
        z.string().min(1).max(256).regex(SES_NAME, "tag values: letters, digits, '_' and '-' only"),
      )
      .optional(),
    region: z
      .string()
      .regex(/^[a-z0-9-]+$/, 'must be an AWS region such as "us-east-1"')
      .optional(),
    endpoint: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
    credentials: credentialsSchema.optional(),
    maxAttempts: z.int().min(1).max(10).optional(),
    /**
     * How long one SendEmail request (one of the SDK's attempts) may take before it fails (default 4 s). Ignored
     * with `client`.
     */
    requestTimeoutMs: z.int().min(100).max(300_000).default(4_000),
    /**
     * The overall deadline of one `send`, across all of the SDK's attempts and its retry pauses (default 10 s): when
     * it passes, the request in flight is aborted and the send fails as retryable. Keep it below the outbox relay's
     * `sendTimeoutMs` (20 s by default), which is itself kept inside the relay's lease.
     */
    sendTimeoutMs: z.int().min(100).max(300_000).default(10_000),
    client: z.custom<SESv2Client>(isClient, "must be an SESv2Client").optional(),
    timeZone: z
      .string()
      .refine(isTimeZone, 'must be an IANA time zone such as "Europe/Paris"')
      .default("UTC"),
    locale: z
      .custom<Locale>(isLocale, "must be a date-fns Locale, e.g. `fr` from date-fns/locale")
      .default(enUS),
    dateFormat: z
      .string()
      .min(1)
      .refine(isDateFormat, 'must be a date-fns format pattern such as "PPPp zzz" (see date-fns `format`)')
      .default("PPPp zzz"),
    objectLabels: z.record(z.string(), z.string().trim().min(1, "labels must not be empty")).default({}),
    templates: z
      .object({
        "invite-existing-user": templateSchema.optional(),
        "invite-new-user": templateSchema.optional(),
        "connection-created": templateSchema.optional(),
        "access-ending": templateSchema.optional(),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((options, ctx) => {
    if (options.client === undefined) return;
    for (const key of ["region", "endpoint", "credentials", "maxAttempts"] as const) {
      if (options[key] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: "configure it on the client you pass as `client`, not here",
        });
      }
    }
  });

/** What `new SesNotifier(options)` accepts. */
export type SesNotifierOptions = z.input<typeof sesNotifierOptionsSchema>;

/** The options after parsing, with defaults filled in. */
export type SesNotifierConfig = z.output<typeof sesNotifierOptionsSchema>;

/** Thrown by `new SesNotifier(options)` when the options are invalid; the message names each bad setting. */
export class SesNotifierConfigError extends Error {
  /** Each problem: the setting's path (e.g. `tags.env`) and what is wrong with it. */
  readonly issues: ReadonlyArray<{ path: string; message: string }>;

  constructor(error: z.ZodError) {
    const issues = error.issues.map((issue) => ({
      path: issue.path.length > 0 ? issue.path.map(String).join(".") : "(options)",
      message: issue.message,
    }));
    super(
      `Invalid SesNotifier configuration:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")}`,
      { cause: error },
    );
    this.name = "SesNotifierConfigError";
    this.issues = issues;
  }
}

/** Parses and checks the options, throwing {@link SesNotifierConfigError} naming every bad setting. */
export function parseSesNotifierOptions(options: SesNotifierOptions): SesNotifierConfig {
  const result = sesNotifierOptionsSchema.safeParse(options ?? {});
  if (!result.success) throw new SesNotifierConfigError(result.error);
  return result.data;
}
