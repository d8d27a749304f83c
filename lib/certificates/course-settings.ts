import type { Sql } from '../db/client.ts';
import { NotFoundError } from '../errors.ts';
import { assertUuid } from './ids.ts';

/**
 * A course's lifecycle settings: its validity period (`validity_months`, NULL: certificates
 * never expire) and whether a strictly better later score reissues the certificate
 * (`reissue_on_better_score`, off by default). Changing them affects certificates issued from
 * then on (and later passes decided from then on); certificates already issued keep their expiry.
 */

export interface CourseLifecycleSettings {
  courseId: string;
  validityMonths: number | null;
  reissueOnBetterScore: boolean;
}

export interface CourseLifecycleChange {
  courseId: string;
  /** Absent: unchanged. null: no validity period. */
  validityMonths?: number | null;
  reissueOnBetterScore?: boolean;
  reason?: string;
  /** Staff subject, for the audit row. */
  actor: string;
}

interface SettingsRow {
  validity_months: number | null;
  reissue_on_better_score: boolean;
}

function settingsOf(courseId: string, row: SettingsRow): CourseLifecycleSettings {
  return {
    courseId,
    validityMonths: row.validity_months,
    reissueOnBetterScore: row.reissue_on_better_score,
  };
}

export async function getCourseLifecycleSettings(
  sql: Sql,
  courseId: string,
): Promise<CourseLifecycleSettings> {
  assertUuid(courseId, 'courseId');
  const [row] = await sql<SettingsRow[]>`
    SELECT validity_months, reissue_on_better_score FROM courses WHERE id = ${courseId}`;
  if (!row) throw new NotFoundError('Course');
  return settingsOf(courseId, row);
}

/**
 * Applies the given settings; an audit row (course_settings_log) names the actor, the reason and
 * each setting that changed, from and to. Nothing changed: no write, no audit row. The row lock
 * serialises concurrent changes, so every audit row's "from" is what the course really had.
 */
export async function updateCourseLifecycleSettings(
  sql: Sql,
  change: CourseLifecycleChange,
): Promise<CourseLifecycleSettings & { changed: boolean }> {
  assertUuid(change.courseId, 'courseId');
  return sql.begin(async (tx) => {
    const [before] = await tx<SettingsRow[]>`
      SELECT validity_months, reissue_on_better_score FROM courses WHERE id = ${change.courseId}
      FOR NO KEY UPDATE`;
    if (!before) throw new NotFoundError('Course');
    const after: SettingsRow = {
      validity_months: change.validityMonths === undefined ? before.validity_months : change.validityMonths,
      reissue_on_better_score: change.reissueOnBetterScore ?? before.reissue_on_better_score,
    };
    const changes: Record<string, { from: number | boolean | null; to: number | boolean | null }> = {};
    if (after.validity_months !== before.validity_months)
      changes.validityMonths = { from: before.validity_months, to: after.validity_months };
    if (after.reissue_on_better_score !== before.reissue_on_better_score)
      changes.reissueOnBetterScore = {
        from: before.reissue_on_better_score,
        to: after.reissue_on_better_score,
      };
    if (Object.keys(changes).length === 0) return { ...settingsOf(change.courseId, before), changed: false };
    await tx`
      UPDATE courses
      SET validity_months = ${after.validity_months}, reissue_on_better_score = ${after.reissue_on_better_score},
          updated_at = now()
      WHERE id = ${change.courseId}`;
    await tx`
      INSERT INTO course_settings_log (course_id, actor, changes, reason)
      VALUES (${change.courseId}, ${change.actor}, ${tx.json(changes)}::jsonb, ${change.reason ?? null})`;
    return { ...settingsOf(change.courseId, after), changed: true };
  });
}
