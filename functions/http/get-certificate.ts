import { getCertificate } from '../../lib/certificates/read-model.ts';
import { type ReadDeps, readDeps } from '../../lib/http/deps.ts';
import { uuidPathParam } from '../../lib/http/params.ts';
import { ok } from '../../lib/http/response.ts';
import { authenticatedRoute, lazyHandler } from '../../lib/http/route.ts';

/** GET /api/v1/certificates/{certificateId} (guide: GET /certificates/{certificate_id}). */
export const createHandler = (deps: ReadDeps) =>
  authenticatedRoute(deps, async ({ event, principal }) => {
    const certificateId = uuidPathParam(event, 'certificateId');
    return ok(await getCertificate(deps.sql, principal, certificateId));
  });

export const handler = lazyHandler(() => createHandler(readDeps()));
