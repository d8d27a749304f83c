import { isUuid } from '../certificates/ids.ts';
import type { ResolvedTemplate } from '../certificates/ports.ts';
import type { Sql } from '../db/client.ts';
import { errorMessage, NotFoundError, TransientError, ValidationError } from '../errors.ts';
import { type AssetLoader, AssetNotReadableError, validateAssetRefs } from './assets.ts';
import { loadDefaultTemplate, prepareCertificate } from './renderer.ts';
import { SAMPLE_CONTENT } from './sample.ts';
import { validateTemplateSource } from './template-engine.ts';

/**
 * Certificate templates in `certificate_templates`: per course (or the organisation default when
 * course_id is NULL), append-only and versioned. Saving never changes an existing version, and a
 * certificate records the id + version that printed it, so editing a template never alters what
 * was issued.
 */

export interface TemplateInput {
  /** null: the organisation-wide default. */
  courseId: string | null;
  name: string;
  html: string;
  css?: string;
  locale?: string | null;
  assets?: Record<string, string>;
  createdBy?: string | null;
}

export interface TemplateRow {
  id: string;
  courseId: string | null;
  version: number;
  name: string;
  locale: string | null;
  createdBy: string | null;
  createdAt: Date;
}

interface DbTemplate {
  id: string;
  course_id: string | null;
  version: number;
  name: string;
  html: string;
  css: string;
  locale: string | null;
  assets: Record<string, string> | null;
  created_by: string | null;
  created_at: Date;
}

function toResolved(row: DbTemplate): ResolvedTemplate {
  return {
    id: row.id,
    version: String(row.version),
    html: row.html,
    css: row.css,
    assets: row.assets ?? {},
    locale: row.locale,
  };
}

export interface TemplateCheckOptions {
  /**
   * Reads the certificates bucket's `s3://` assets, so a template naming a logo that is not there,
   * not an image or too large is refused when saved, not found out by its course's certificates.
   */
  assetLoader?: AssetLoader;
}

/**
 * Validates a template fully before it is stored: syntax, known fields only, asset references
 * (bucket assets read through `assetLoader`), and a trial fill with sample data (no browser).
 * Throws ValidationError.
 */
export async function validateTemplate(
  input: Omit<TemplateInput, 'courseId' | 'createdBy'>,
  options: TemplateCheckOptions = {},
): Promise<void> {
  if (typeof input.name !== 'string' || input.name.trim() === '' || input.name.length > 200)
    throw new ValidationError('name must be 1 to 200 characters', 'name');
  if (input.locale != null && !/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(input.locale))
    throw new ValidationError('locale must be a BCP 47 tag like "de" or "pt-BR"', 'locale');
  validateTemplateSource(input.html, input.css ?? '');
  const assets = validateAssetRefs(input.assets);
  const inBucket = Object.values(assets).filter((ref) => ref.startsWith('s3://'));
  if (inBucket.length > 0 && !options.assetLoader)
    throw new ValidationError(
      `asset ${inBucket[0]} cannot be checked: saving a template with bucket assets needs the bucket (S3_BUCKET)`,
      'assets',
    );
  const fill = async (content: typeof SAMPLE_CONTENT): Promise<string> => {
    try {
      return (
        await prepareCertificate(
          content,
          {
            id: null,
            version: 'draft',
            html: input.html,
            css: input.css ?? '',
            assets,
            locale: input.locale ?? null,
          },
          options.assetLoader ? { assetLoader: options.assetLoader } : {},
        )
      ).html;
    } catch (error) {
      if (error instanceof ValidationError) throw error;
      // Whoever saves is the operator: the whole reason (missing, or the bucket, region or role to
      // check), not only the reference a preview's caller is told.
      if (error instanceof AssetNotReadableError)
        throw new ValidationError(
          error.problem ? `asset ${error.ref} ${error.problem}` : error.message,
          'assets',
        );
      // The bucket not answering says nothing of the template: the save can be tried again.
      if (error instanceof TransientError) throw error;
      throw new ValidationError(`template fails with sample data: ${errorMessage(error)}`, 'html');
    }
  };
  // Using the fields is not enough (validateTemplateSource): the name and the course must end
  // up as text of the page, where readers and `npm run verify` find them, not only in <title>,
  // an attribute or a branch never taken. Text hidden by CSS cannot be seen from here.
  const missing = notPrinted(await fill(SAMPLE_CONTENT), SAMPLE_CONTENT);
  if (missing)
    throw new ValidationError(
      `template must print ${missing.field} as text of the page (with the sample data "${missing.value}" it is not in the page's body: only in <title>, an attribute, or a branch not taken?)`,
      'html',
    );
  // And as they are: every output is escaped once already, so a value escaped again (through a
  // {% capture %}) would print "O&#39;Brien" on the certificates of every such name, and
  // `npm run verify` would then call those genuine PDFs altered.
  const doubled = notPrinted(await fill(ESCAPING_SAMPLE), ESCAPING_SAMPLE);
  if (doubled)
    throw new ValidationError(
      `template must print ${doubled.field} as it is: with the sample data "${doubled.value}" the page shows it escaped twice (every output is escaped already; print it with {{ ${doubled.field} }}, not through {% capture %})`,
      'html',
    );
}

/** The first of the name and the course a filled page's body text lacks, and the value looked for. */
function notPrinted(
  filled: string,
  content: typeof SAMPLE_CONTENT,
): { field: 'student_name' | 'course_name'; value: string } | undefined {
  const text = squashed(bodyText(filled));
  const fields = [
    { field: 'student_name', value: content.studentName },
    { field: 'course_name', value: content.courseName },
  ] as const;
  return fields.find(({ value }) => !text.includes(squashed(value)));
}

/** Sample values holding every character HTML escaping changes. */
const ESCAPING_SAMPLE = {
  ...SAMPLE_CONTENT,
  studentName: `Ada O'Lovelace & "Co" <1>`,
  courseName: `Analytical & <Difference> Engines`,
};

/** The text of a filled page's body: no head, styles or tags, entities of the escaper decoded. */
function bodyText(html: string): string {
  const head = html.search(/<\/head\s*>/i);
  return (
    html
      .slice(Math.max(head, 0))
      // Comments and <template> contents are parsed but never printed: a name only there is not on the page.
      .replace(/<!--[\s\S]*?(-->|$)/g, ' ')
      .replace(/<(style|script|template)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<[^>]*>/g, ' ')
      .replace(/&(lt|gt|quot|#34|#39|amp);/g, (_, entity: string) =>
        entity === 'lt'
          ? '<'
          : entity === 'gt'
            ? '>'
            : entity === 'quot' || entity === '#34'
              ? '"'
              : entity === '#39'
                ? "'"
                : '&',
      )
  );
}

/** Case and spacing aside (a template may upper-case a name or set each letter apart). */
function squashed(text: string): string {
  return text.replace(/\s+/g, '').toLowerCase();
}

/** Stores a new version (1 + the newest for that course, or for the default). */
export async function saveTemplate(
  sql: Sql,
  input: TemplateInput,
  options: TemplateCheckOptions = {},
): Promise<TemplateRow> {
  if (input.courseId !== null && !isUuid(input.courseId))
    throw new ValidationError('courseId must be a UUID', 'courseId');
  await validateTemplate(input, options);
  for (let attempt = 0; ; attempt += 1) {
    try {
      const [row] = await sql<DbTemplate[]>`
        INSERT INTO certificate_templates (course_id, version, name, html, css, locale, assets, created_by)
        SELECT ${input.courseId}, coalesce(max(version), 0) + 1, ${input.name.trim()}, ${input.html},
               ${input.css ?? ''}, ${input.locale ?? null}, ${sql.json(input.assets ?? {})}, ${input.createdBy ?? null}
          FROM certificate_templates
         WHERE course_id IS NOT DISTINCT FROM ${input.courseId}::uuid
        RETURNING id, course_id, version, name, html, css, locale, assets, created_by, created_at`;
      if (!row) throw new Error('insert returned no row');
      return toRow(row);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // Two saves for the same course raced for the same version number: take the next one.
      if (code === '23505' && attempt < 5) continue;
      if (code === '23503') throw new NotFoundError('course');
      throw error;
    }
  }
}

/** A stored template by id (any version): for previews and re-renders of a recorded version. */
export async function loadTemplateById(sql: Sql, id: string): Promise<ResolvedTemplate> {
  if (!isUuid(id)) throw new ValidationError('template id must be a UUID', 'templateId');
  const [row] = await sql<DbTemplate[]>`SELECT * FROM certificate_templates WHERE id = ${id}`;
  if (!row) throw new NotFoundError('template');
  return toResolved(row);
}

/**
 * The template that prints a new certificate for a course: the course's newest version, else
 * the newest organisation default (course_id NULL), else the built-in one from templates/.
 * The result's id + version are what the certificate records.
 */
export async function resolveTemplateForCourse(sql: Sql, courseId: string): Promise<ResolvedTemplate> {
  const id = await currentTemplateId(sql, courseId);
  return id ? loadTemplateById(sql, id) : loadDefaultTemplate();
}

/** Which stored version prints a course's new certificates (resolveTemplateForCourse's rule); null: the built-in. */
async function currentTemplateId(sql: Sql, courseId: string): Promise<string | null> {
  const [row] = await sql<{ id: string }[]>`
    SELECT id FROM certificate_templates
     WHERE course_id = ${courseId} OR course_id IS NULL
     ORDER BY (course_id IS NULL), version DESC
     LIMIT 1`;
  return row?.id ?? null;
}

/**
 * resolveTemplateForCourse for a container that prints many certificates (generate): each one
 * still asks which version is current, so a new version prints from the next certificate on, but
 * a version's HTML and CSS (up to MAX_TEMPLATE_BYTES) and its assets (data: images among them)
 * are read once, not with every certificate. A saved version never changes (a trigger refuses an
 * UPDATE, migration 1733800000000), so a kept one is never stale. At most `maxVersions` are kept,
 * the least recently used dropped first: a container prints for a few courses at a time.
 */
export function createTemplateResolver(
  sql: Sql,
  options: { maxVersions?: number } = {},
): (courseId: string) => Promise<ResolvedTemplate> {
  const maxVersions = options.maxVersions ?? 16;
  const versions = new Map<string, ResolvedTemplate>();
  return async (courseId) => {
    const id = await currentTemplateId(sql, courseId);
    if (!id) return loadDefaultTemplate();
    const kept = versions.get(id);
    if (kept) {
      // Map order is insertion order: moved to the end, it is now the most recently used.
      versions.delete(id);
      versions.set(id, kept);
      return kept;
    }
    const template = await loadTemplateById(sql, id);
    versions.set(id, template);
    for (const oldest of versions.keys()) {
      if (versions.size <= maxVersions) break;
      versions.delete(oldest);
    }
    return template;
  };
}

/** Versions stored for a course (or the default when courseId is null), newest first. */
export async function listTemplates(sql: Sql, courseId: string | null): Promise<TemplateRow[]> {
  const rows = await sql<DbTemplate[]>`
    SELECT id, course_id, version, name, locale, created_by, created_at
      FROM certificate_templates
     WHERE course_id IS NOT DISTINCT FROM ${courseId}::uuid
     ORDER BY version DESC`;
  return rows.map(toRow);
}

function toRow(
  row: Pick<DbTemplate, 'id' | 'course_id' | 'version' | 'name' | 'locale' | 'created_by' | 'created_at'>,
): TemplateRow {
  return {
    id: row.id,
    courseId: row.course_id,
    version: row.version,
    name: row.name,
    locale: row.locale,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}
