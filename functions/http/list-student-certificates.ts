import { listStudentCertificates } from '../../lib/certificates/read-model.ts';
import { type ReadDeps, readDeps } from '../../lib/http/deps.ts';
import { pageBody, pageQuery } from '../../lib/http/pagination.ts';
import { uuidPathParam } from '../../lib/http/params.ts';
import { ok } from '../../lib/http/response.ts';
import { authenticatedRoute, lazyHandler } from '../../lib/http/route.ts';

/** GET /api/v1/students/{studentId}/certificates (guide: GET /certificates/{student_id}). */
export const createHandler = (deps: ReadDeps) =>
  authenticatedRoute(deps, async ({ event, principal }) => {
    const studentId = uuidPathParam(event, 'studentId');
    return ok(pageBody(await listStudentCertificates(deps.sql, principal, studentId, pageQuery(event))));
  });

export const handler = lazyHandler(() => createHandler(readDeps()));
