import { z } from 'zod';
import { readScope, signedIn } from '../../auth/policies.ts';
import { getDownloadLink } from '../../certificates/read-model.ts';
import { recordRequestEvent } from '../analytics.ts';
import { defineRoute } from '../contract.ts';
import type { DownloadDeps } from '../download-deps.ts';
import { intParam } from '../params.ts';
import { ok } from '../response.ts';
import { downloadLinkSchema } from '../schemas.ts';
import { certificateIdPath, errorResponse, notReadyHeaders } from './common.ts';

export const getCertificateDownloadRoute = defineRoute({
  operationId: 'getCertificateDownload',
  method: 'GET',
  path: '/api/v1/certificates/{certificateId}/download',
  tags: ['certificates'],
  summary: 'A presigned download URL for the PDF',
  description:
    'Guide: `GET /api/v1/certificates/{certificate_id}/download`. Returns a presigned S3 GET URL ' +
    '(`Content-Disposition: attachment` with a readable file name) and when it expires. ' +
    'Default lifetime DOWNLOAD_URL_TTL_SECONDS (3600); `expiresIn` above DOWNLOAD_URL_MAX_TTL_SECONDS is capped, ' +
    "and so is any lifetime past the certificate's own `expiresAt` (the response gives the lifetime granted).",
  request: {
    path: certificateIdPath,
    query: z.object({
      expiresIn: intParam({
        min: 1,
        description:
          "Requested URL lifetime in seconds (capped at the configured maximum and at the certificate's expiry)",
      }),
    }),
  },
  policy: signedIn,
  responses: {
    200: { description: 'The URL', schema: downloadLinkSchema },
    404: { description: 'Unknown (or not yours)' },
    409: {
      ...errorResponse(
        'Not issued: `certificate_not_ready` (pending/rendering/failed, with Retry-After; poll again) ' +
          'or `certificate_generation_failed` (dead). `certificateStatus` carries the status.',
      ),
      headers: notReadyHeaders,
    },
    410: errorResponse('Revoked, superseded or expired (`certificateStatus`)'),
  },
  handle: async (deps: DownloadDeps & { now?: () => Date }, { path, query, principal, event }) => {
    const link = await getDownloadLink(deps, readScope(principal), path.certificateId, {
      ...deps.download,
      ...(query.expiresIn === undefined ? {} : { requestedTtlSeconds: query.expiresIn }),
    });
    // Only links actually handed out count; recording is bounded and never throws.
    await recordRequestEvent(
      deps,
      'download-link',
      { certificateId: link.certificateId },
      event,
      deps.now?.(),
    );
    return ok(link);
  },
});
