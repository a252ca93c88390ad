import { accessLevelName, type Notice } from "@conn/core";
import { TZDate } from "@date-fns/tz";
import { format, type Locale } from "date-fns";
import { stripControlChars } from "./escape.js";
import type { TemplateData } from "./templates.js";

/** How {@link buildTemplateData} labels objects and formats dates. */
export interface TemplateDataOptions {
  /** Host-supplied labels by object name, e.g. `{ c_prescription: "prescription" }`. */
  objectLabels: Readonly<Record<string, string>>;
  /** The IANA time zone the expiry date is shown in. */
  timeZone: string;
  /** The date-fns locale the expiry date is shown in. */
  locale: Locale;
  /** The date-fns format pattern of the expiry date. */
  dateFormat: string;
}

/** The default label of an object name: the `c_` or `namespace__` prefix dropped, `_` as spaces (`c_lab_result` → "lab result"). */
export function defaultObjectLabel(objectName: string): string {
  const bare = objectName.replace(/^[a-z0-9]+__/, "").replace(/^c_/, "");
  const label = bare.replace(/_+/g, " ").trim();
  return label.length > 0 ? label : objectName;
}

/** `first last` from a name, control characters stripped, or null when both parts are empty. */
function fullName(name: Notice["recipient"]["name"]): string | null {
  if (name === null) return null;
  const parts = [name.first, name.last].map((p) => stripControlChars(p ?? "")).filter((p) => p.length > 0);
  return parts.length > 0 ? parts.join(" ") : null;
}

/** Formats `date` with date-fns in `timeZone` and `locale`, or null when there is no (valid) date. */
export function formatExpiry(
  date: Date | null,
  options: Omit<TemplateDataOptions, "objectLabels">,
): string | null {
  if (date === null || Number.isNaN(date.getTime())) return null;
  return stripControlChars(
    format(new TZDate(date.getTime(), options.timeZone), options.dateFormat, { locale: options.locale }),
  );
}

/** Builds the values a template interpolates from a notice; every string has its control characters stripped. */
export function buildTemplateData(
  notice: Notice,
  recipientEmail: string,
  options: TemplateDataOptions,
): TemplateData {
  const first = stripControlChars(notice.recipient.name?.first ?? "");
  const orgName = stripControlChars(notice.org.name);
  const contextLabel = stripControlChars(notice.context.label ?? "");
  const hostLabel = stripControlChars(options.objectLabels[notice.context.object] ?? "");
  const ending = notice.kind === "access-ending" ? (notice.accessEnding ?? null) : null;
  return {
    kind: notice.kind,
    recipientName: first.length > 0 ? first : recipientEmail,
    recipientEmail,
    creatorName: fullName(notice.creator.name) ?? "Someone",
    orgName: orgName.length > 0 ? orgName : stripControlChars(notice.org.code),
    objectLabel:
      contextLabel.length > 0
        ? contextLabel
        : hostLabel.length > 0
          ? hostLabel
          : stripControlChars(defaultObjectLabel(notice.context.object)),
    objectName: stripControlChars(notice.context.object),
    access: notice.access,
    accessName: accessLevelName[notice.access] ?? String(notice.access),
    acceptUrl: notice.acceptUrl,
    expiresAt: notice.expiresAt,
    expiresAtText: formatExpiry(notice.expiresAt, options),
    connectionId: stripControlChars(notice.connectionId),
    recordId: stripControlChars(notice.context._id),
    accessEndsAt: ending?.endsAt ?? null,
    accessEndsAtText: formatExpiry(ending?.endsAt ?? null, options),
    audience: ending?.audience ?? null,
    targetName:
      ending === null
        ? null
        : (fullName(ending.target.name) ?? (ending.audience === "target" ? recipientEmail : "someone")),
  };
}
