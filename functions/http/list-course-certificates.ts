import { listCourseCertificates } from '../../lib/certificates/read-model.ts';
import { type ReadDeps, readDeps } from '../../lib/http/deps.ts';
import { pageBody, pageQuery } from '../../lib/http/pagination.ts';
import { uuidPathParam } from '../../lib/http/params.ts';
import { ok } from '../../lib/http/response.ts';
import { authenticatedRoute, lazyHandler } from '../../lib/http/route.ts';

/** GET /api/v1/courses/{courseId}/certificates, staff only (guide: GET /certificates/course/{course_id}). */
export const createHandler = (deps: ReadDeps) =>
  authenticatedRoute(deps, async ({ event, principal }) => {
    const courseId = uuidPathParam(event, 'courseId');
    return ok(pageBody(await listCourseCertificates(deps.sql, principal, courseId, pageQuery(event))));
  });

export const handler = lazyHandler(() => createHandler(readDeps()));
