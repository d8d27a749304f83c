import { getLatestStudentCertificate } from '../../lib/certificates/read-model.ts';
import { type ReadDeps, readDeps } from '../../lib/http/deps.ts';
import { uuidPathParam } from '../../lib/http/params.ts';
import { ok } from '../../lib/http/response.ts';
import { authenticatedRoute, lazyHandler } from '../../lib/http/route.ts';

/** GET /api/v1/students/{studentId}/certificates/latest (guide: GET /certificates/{student_id}/latest). */
export const createHandler = (deps: ReadDeps) =>
  authenticatedRoute(deps, async ({ event, principal }) => {
    const studentId = uuidPathParam(event, 'studentId');
    return ok(await getLatestStudentCertificate(deps.sql, principal, studentId));
  });

export const handler = lazyHandler(() => createHandler(readDeps()));
