import { z } from "zod";
import { ConnectionError } from "../domain/errors.js";
import { orgSchema } from "../domain/values.js";

/**
 * The options of a job that works through an org in batches (the purge, the access-ending sweep): `batchSize`
 * 1..`max` (default `byDefault`), `maxBatches` ≥ 1 (default: until none is left). Unknown keys are refused.
 */
export function batchOptionsSchema(max: number, byDefault: number) {
  return z
    .object({
      batchSize: z.number().int().min(1).max(max).default(byDefault),
      maxBatches: z
        .number()
        .int()
        .min(1)
        .or(z.literal(Number.POSITIVE_INFINITY))
        .default(Number.POSITIVE_INFINITY),
    })
    .strict();
}

/** The options of a batched job, parsed. */
export type BatchOptions = z.output<ReturnType<typeof batchOptionsSchema>>;

/**
 * Parses a batched job's org and options (absent options: the defaults); a bad one fails with
 * `cortex.invalidArgument.unspecified` naming it in `path`.
 */
export function parseBatchJob(
  orgInput: unknown,
  schema: ReturnType<typeof batchOptionsSchema>,
  optionsInput: unknown,
): { org: string; options: BatchOptions } {
  const org = orgSchema.safeParse(orgInput);
  if (!org.success)
    throw new ConnectionError("cortex.invalidArgument.unspecified", { reason: "malformed org", path: "org" });
  const options = schema.safeParse(optionsInput === undefined ? {} : optionsInput);
  if (!options.success) {
    const issue = options.error.issues[0];
    throw new ConnectionError("cortex.invalidArgument.unspecified", {
      reason: issue?.message ?? "malformed options",
      path: issue?.path.join(".") || "options",
    });
  }
  return { org: org.data, options: options.data };
}
