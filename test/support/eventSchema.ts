/**
 * The action event as the README documents it ("Event schema (version 1)"), as a zod schema:
 * what an outside subscriber of the actions topic may rely on.
 *
 * Why a schema of its own and not `ActionEvent` from src/types.ts: end-to-end suites check what
 * reaches a subscriber against the documentation, so a field the code adds or drops without the
 * README saying so fails here (strict objects: no undocumented keys), and the documented
 * relations between fields (ISO bounds equal to the ms bounds, one attention value per clip)
 * are checked too.
 *
 * @example
 * const event = parseActionEventV1(JSON.parse(kafkaValue)); // throws, naming the field, when off-schema
 */
import { z } from 'zod';

/** Kafka headers every actions-topic message carries, with their documented values. */
export const ACTION_HEADERS_V1 = { schema: '1', contentType: 'application/json' } as const;

const isoTime = z.iso.datetime();
const clipRange = z.strictObject({ startMs: z.number(), endMs: z.number() });

/** Schema version 1 of an action event (README table, one key per documented field). */
export const actionEventSchemaV1 = z
  .strictObject({
    schema: z.literal(1),
    id: z.string().regex(/^[0-9a-f]{16}$/, '16 hex characters'),
    cameraId: z.string().min(1),
    action: z.string().min(1),
    classIndex: z.number().int().nonnegative(),
    confidence: z.number().min(0).max(1),
    start: isoTime,
    end: isoTime,
    startMs: z.number(),
    endMs: z.number(),
    startClip: z.number().int().nonnegative(),
    endClip: z.number().int().nonnegative(),
    attention: z.array(z.number().min(0).max(1)),
    clips: z.array(clipRange).min(1),
    model: z.strictObject({ name: z.string().min(1), version: z.string().min(1), head: z.string().min(1) }),
    emittedAt: isoTime,
    status: z.enum(['open', 'closed']),
    nearGap: z.boolean(),
  })
  .superRefine((e, ctx) => {
    const issue = (path: string, message: string): void => ctx.addIssue({ code: 'custom', path: [path], message });
    // ISO text has whole milliseconds; the ms field may carry a fraction (fps that do not divide 1000).
    if (Math.abs(Date.parse(e.start) - e.startMs) >= 1) issue('start', `${e.start} is not startMs ${e.startMs}`);
    if (Math.abs(Date.parse(e.end) - e.endMs) >= 1) issue('end', `${e.end} is not endMs ${e.endMs}`);
    if (!(e.startMs < e.endMs)) issue('endMs', `must be after startMs (${e.startMs} … ${e.endMs})`);
    if (e.startClip > e.endClip) issue('endClip', `must be ≥ startClip (${e.startClip} … ${e.endClip})`);
    if (e.attention.length !== e.clips.length) issue('attention', `${e.attention.length} values for ${e.clips.length} clips`);
  });

/** An event that passed {@link actionEventSchemaV1}. */
export type ActionEventV1 = z.infer<typeof actionEventSchemaV1>;

/**
 * Parses one event against the documented schema.
 *
 * @param value - a decoded JSON value (a message of the actions topic, a stdout line)
 * @returns the event, typed
 * @throws Error listing every field that is off-schema
 */
export function parseActionEventV1(value: unknown): ActionEventV1 {
  const r = actionEventSchemaV1.safeParse(value);
  if (!r.success) throw new Error(`event off schema v1:\n${z.prettifyError(r.error)}\n${JSON.stringify(value)}`);
  return r.data;
}
