import { z } from 'zod';
import { uuidSchema } from '../certificates/ids.ts';

/**
 * Records Lambda writes to generate's on-failure destination (an SQS queue) when it gives up on
 * an async invocation: the event waited longer than MaximumEventAgeInSeconds (throttled by the
 * reserved concurrency for hours) or the handler threw (database down while recording). The
 * certificate is not lost either way: its dispatch lease or rendering lease expires and the scan
 * hands it out again. The queue makes the drop visible (alarm) and lets an operator release
 * such certificates at once (scripts/failed-invocations.ts).
 */

const destinationRecord = z.object({
  timestamp: z.string().optional(),
  requestContext: z
    .object({
      condition: z.string().optional(),
      approximateInvokeCount: z.number().optional(),
    })
    .optional(),
  requestPayload: z.object({ certificateId: uuidSchema }),
  responseContext: z.object({ functionError: z.string().optional() }).partial().optional(),
  responsePayload: z.unknown().optional(),
});

/**
 * generate's MaximumEventAgeInSeconds (serverless.yml `maximumEventAge`; a test keeps the two
 * equal): an event Lambda drops for its age was queued at least this long before the record.
 */
export const GENERATE_MAX_EVENT_AGE_SECONDS = 21_600;

export interface FailedInvocation {
  certificateId: string;
  /** Lambda's reason: EventAgeExceeded, RetriesExhausted, ... */
  condition: string;
  /** When Lambda wrote the record (it gave up). */
  timestamp?: string;
  /**
   * The latest the dropped invocation can have been dispatched: for an event dropped for its age,
   * MaximumEventAgeInSeconds before the record (hours, in which the scan may have dispatched the
   * certificate again); else the record's time.
   */
  dispatchedBy?: string;
  error?: string;
}

/** The failed invocation an SQS message body describes, or undefined for anything else. */
export function parseFailedInvocation(body: string): FailedInvocation | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = destinationRecord.safeParse(json);
  if (!parsed.success) return undefined;
  const record = parsed.data;
  const response = record.responsePayload as { errorMessage?: unknown } | undefined;
  const condition = record.requestContext?.condition ?? 'unknown';
  const at = record.timestamp ? Date.parse(record.timestamp) : Number.NaN;
  const dispatchedBy = Number.isNaN(at)
    ? undefined
    : new Date(
        condition === 'EventAgeExceeded' ? at - GENERATE_MAX_EVENT_AGE_SECONDS * 1000 : at,
      ).toISOString();
  return {
    certificateId: record.requestPayload.certificateId,
    condition,
    ...(record.timestamp ? { timestamp: record.timestamp } : {}),
    ...(dispatchedBy ? { dispatchedBy } : {}),
    ...(typeof response?.errorMessage === 'string' ? { error: response.errorMessage } : {}),
  };
}
