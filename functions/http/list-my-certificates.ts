import { listStudentCertificates } from '../../lib/certificates/read-model.ts';
import { type ReadDeps, readDeps } from '../../lib/http/deps.ts';
import { pageBody, pageQuery } from '../../lib/http/pagination.ts';
import { ok } from '../../lib/http/response.ts';
import { authenticatedRoute, lazyHandler } from '../../lib/http/route.ts';

/** GET /api/v1/me/certificates: the signed-in student's certificates (the token's `sub`). */
export const createHandler = (deps: ReadDeps) =>
  authenticatedRoute(deps, async ({ event, principal }) =>
    ok(pageBody(await listStudentCertificates(deps.sql, principal, principal.subject, pageQuery(event)))),
  );

export const handler = lazyHandler(() => createHandler(readDeps()));
