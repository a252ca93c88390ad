import {
  type MessageTag,
  SESv2Client,
  type SESv2ClientConfig,
  SendEmailCommand,
  type SendEmailCommandInput,
} from "@aws-sdk/client-sesv2";
import {
  ConnectionError,
  emailSchema,
  isInvitationKind,
  type Notice,
  type Notifier,
  type NotifierSendOptions,
} from "@conn/core";
import {
  BUILT_IN_TAGS,
  parseSesNotifierOptions,
  type SesNotifierConfig,
  type SesNotifierOptions,
} from "./config.js";
import { classifySesError } from "./errors.js";
import { redact, stripControlChars, toTagValue } from "./escape.js";
import { buildTemplateData } from "./template-data.js";
import { defaultTemplates, type EmailContent, type NoticeTemplates } from "./templates.js";

/** The message header that carries `notice.idempotencyKey`, for tracing and downstream de-duplication. */
export const IDEMPOTENCY_KEY_HEADER = "X-Conn-Idempotency-Key";

/** A permanent (not retryable) delivery failure with the given reason. */
function permanent(
  reason: string,
  message: string,
  secrets: readonly string[],
  cause?: unknown,
): ConnectionError {
  return new ConnectionError("cortex.error.unspecified", {
    retryable: false,
    reason,
    message: redact(message, secrets),
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The strings that must never leave the notifier in an error message: the token, encoded, and the accept URL. */
function secretsOf(notice: Notice): string[] {
  const secrets: string[] = [];
  if (notice.acceptUrl) secrets.push(notice.acceptUrl);
  if (notice.token) secrets.push(notice.token, encodeURIComponent(notice.token));
  return secrets;
}

/** Replaces the SDK's log filter for one command so a client-level logger never sees the email content. */
function hideContentFromSdkLogs(command: SendEmailCommand): void {
  command.middlewareStack.add(
    (next, context) => (args) => {
      (context as Record<string, unknown>).inputFilterSensitiveLog = (input: SendEmailCommandInput) => ({
        ...input,
        Content: "[redacted]",
        EmailTags: "[redacted]",
      });
      return next(args);
    },
    { step: "initialize", name: "connHideEmailContentFromLogs", priority: "high" },
  );
}

/** Sends each `@conn/core` notice as one email through Amazon SES v2 (`SendEmail`, simple content). */
export class SesNotifier implements Notifier {
  /** The SES client the notifier sends with (built from the options, or the one passed as `client`). */
  readonly client: SESv2Client;
  private readonly config: SesNotifierConfig;
  private readonly templates: NoticeTemplates;

  /** Parses `options` with zod; throws `SesNotifierConfigError` naming each bad setting. */
  constructor(options: SesNotifierOptions) {
    this.config = parseSesNotifierOptions(options);
    this.templates = { ...defaultTemplates, ...definedTemplates(this.config.templates) };
    this.client = this.config.client ?? new SESv2Client(clientConfig(this.config));
  }

  /** Renders the email a notice becomes, without sending it (also useful for previews). */
  async render(notice: Notice): Promise<EmailContent> {
    return (await this.prepare(notice)).content;
  }

  /**
   * Sends one email for `notice` to `notice.recipient.email`, within `sendTimeoutMs` across every SDK attempt (or
   * until `options.signal` aborts). Throws a `ConnectionError` whose `retryable` tells the outbox relay whether to
   * try again; its message never contains the token.
   */
  async send(notice: Notice, options: NotifierSendOptions = {}): Promise<void> {
    const { input, secrets } = await this.prepare(notice);
    const command = new SendEmailCommand(input);
    hideContentFromSdkLogs(command);
    // One deadline for the whole send, whatever the SDK's attempts and pauses: the request in flight is aborted when
    // it passes, or when the caller (the outbox relay) gives up first.
    const ms = this.config.sendTimeoutMs;
    const deadline = AbortSignal.timeout(ms);
    const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
    try {
      await this.client.send(command, { abortSignal: signal });
    } catch (err) {
      if (!signal.aborted) throw classifySesError(err, { secrets });
      const why = deadline.aborted
        ? `SES did not answer within ${ms} ms (sendTimeoutMs); the request was aborted.`
        : "The send was aborted by its caller before SES answered.";
      throw new ConnectionError("cortex.error.unspecified", {
        retryable: true,
        reason: deadline.aborted ? "sendTimeout" : "aborted",
        message: why,
        cause: err,
      });
    }
  }

  /** Checks the notice, renders its template and builds the `SendEmail` input. */
  private async prepare(
    notice: Notice,
  ): Promise<{ content: EmailContent; input: SendEmailCommandInput; secrets: string[] }> {
    const secrets = secretsOf(notice);
    const to = emailSchema.safeParse(notice.recipient.email);
    if (!to.success) {
      throw permanent(
        "invalidRecipient",
        "The notice's recipient email address is not a valid address.",
        secrets,
      );
    }
    if (isInvitationKind(notice.kind)) checkAcceptUrl(notice, secrets);

    const template = this.templates[notice.kind];
    if (template === undefined) {
      throw permanent("unknownNoticeKind", `No template for notice kind "${String(notice.kind)}".`, secrets);
    }
    let rendered: EmailContent;
    try {
      rendered = await template(buildTemplateData(notice, to.data, this.config));
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw permanent("templateFailed", `The ${notice.kind} template threw: ${detail}`, secrets, err);
    }
    const content = checkContent(rendered, notice.kind, secrets);
    return { content, input: this.input(notice, to.data, content), secrets };
  }

  /** The `SendEmail` input: one recipient, simple content, tags and the idempotency header. */
  private input(notice: Notice, to: string, content: EmailContent): SendEmailCommandInput {
    const { config } = this;
    const tags: MessageTag[] = Object.entries(config.tags ?? {}).map(([Name, Value]) => ({ Name, Value }));
    const builtIn: Array<[string, string]> = [
      [BUILT_IN_TAGS.connectionId, notice.connectionId],
      [BUILT_IN_TAGS.kind, notice.kind],
      [BUILT_IN_TAGS.idempotencyKey, notice.idempotencyKey],
    ];
    for (const [Name, raw] of builtIn) {
      const Value = toTagValue(raw);
      if (Value !== null) tags.push({ Name, Value });
    }
    const idempotencyKey = stripControlChars(notice.idempotencyKey).slice(0, 500);
    const input: SendEmailCommandInput = {
      FromEmailAddress: config.from,
      Destination: { ToAddresses: [to] },
      Content: {
        Simple: {
          Subject: { Data: content.subject, Charset: "UTF-8" },
          Body: {
            Html: { Data: content.html, Charset: "UTF-8" },
            Text: { Data: content.text, Charset: "UTF-8" },
          },
          ...(idempotencyKey.length > 0
            ? { Headers: [{ Name: IDEMPOTENCY_KEY_HEADER, Value: idempotencyKey }] }
            : {}),
        },
      },
      EmailTags: tags,
    };
    if (config.replyTo !== undefined) {
      input.ReplyToAddresses = Array.isArray(config.replyTo) ? config.replyTo : [config.replyTo];
    }
    if (config.configurationSetName !== undefined) input.ConfigurationSetName = config.configurationSetName;
    return input;
  }
}

/** The host's template overrides without the kinds it left undefined. */
function definedTemplates(templates: SesNotifierConfig["templates"]): Partial<NoticeTemplates> {
  const out: Partial<NoticeTemplates> = {};
  for (const [kind, template] of Object.entries(templates) as Array<[keyof NoticeTemplates, unknown]>) {
    if (typeof template === "function") out[kind] = template as NoticeTemplates[typeof kind];
  }
  return out;
}

/** The `SESv2Client` configuration from the options (region, endpoint, credentials, maxAttempts). */
function clientConfig(config: SesNotifierConfig): SESv2ClientConfig {
  const out: SESv2ClientConfig = {};
  if (config.region !== undefined) out.region = config.region;
  if (config.endpoint !== undefined) out.endpoint = config.endpoint;
  if (config.credentials !== undefined) out.credentials = config.credentials;
  if (config.maxAttempts !== undefined) out.maxAttempts = config.maxAttempts;
  out.requestHandler = {
    requestTimeout: config.requestTimeoutMs,
    connectionTimeout: Math.min(5_000, config.requestTimeoutMs),
    throwOnRequestTimeout: true,
  };
  return out;
}

/** An invitation must carry an http(s) accept URL: anything else could not be followed, or could be `javascript:`. */
function checkAcceptUrl(notice: Notice, secrets: readonly string[]): void {
  if (notice.acceptUrl === null || notice.acceptUrl.length === 0) {
    throw permanent("missingAcceptUrl", `A ${notice.kind} notice needs an accept URL and has none.`, secrets);
  }
  let url: URL;
  try {
    url = new URL(notice.acceptUrl);
  } catch {
    throw permanent(
      "invalidAcceptUrl",
      `The ${notice.kind} notice's accept URL is not a valid URL.`,
      secrets,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw permanent(
      "invalidAcceptUrl",
      `The ${notice.kind} notice's accept URL must use http or https.`,
      secrets,
    );
  }
}

/** Checks a template's output and strips control characters from the subject (it becomes a header). */
function checkContent(content: unknown, kind: string, secrets: readonly string[]): EmailContent {
  const c = (typeof content === "object" && content !== null ? content : {}) as Partial<
    Record<string, unknown>
  >;
  if (typeof c.subject !== "string" || typeof c.html !== "string" || typeof c.text !== "string") {
    throw permanent(
      "templateFailed",
      `The ${kind} template must return { subject, html, text }, all strings.`,
      secrets,
    );
  }
  const subject = stripControlChars(c.subject);
  if (subject.length === 0)
    throw permanent("templateFailed", `The ${kind} template returned an empty subject.`, secrets);
  return { subject, html: c.html, text: c.text };
}
