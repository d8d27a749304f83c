import { getDownloadLink } from '../../lib/certificates/read-model.ts';
import { type DownloadDeps, downloadDeps } from '../../lib/http/download-deps.ts';
import { intQueryParam, uuidPathParam } from '../../lib/http/params.ts';
import { ok } from '../../lib/http/response.ts';
import { authenticatedRoute, lazyHandler } from '../../lib/http/route.ts';

/**
 * GET /api/v1/certificates/{certificateId}/download[?expiresIn=seconds]: a presigned S3 URL
 * (guide: GET /certificates/{certificate_id}/download). expiresIn above the maximum is capped.
 */
export const createHandler = (deps: DownloadDeps & { now?: () => Date }) =>
  authenticatedRoute(deps, async ({ event, principal }) => {
    const certificateId = uuidPathParam(event, 'certificateId');
    const requested = intQueryParam(event, 'expiresIn', { min: 1 });
    const link = await getDownloadLink(deps, principal, certificateId, {
      ...deps.download,
      ...(requested === undefined ? {} : { requestedTtlSeconds: requested }),
    });
    return ok(link);
  });

export const handler = lazyHandler(() => createHandler(downloadDeps()));
