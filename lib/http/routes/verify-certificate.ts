import { z } from 'zod';
import { anyone } from '../../auth/policies.ts';
import { verifyCertificate } from '../../certificates/read-model.ts';
import type { Sql } from '../../db/client.ts';
import { type AnalyticsAware, recordPublicEvent } from '../analytics.ts';
import { defineRoute } from '../contract.ts';
import { ok } from '../response.ts';
import { publicVerificationSchema } from '../schemas.ts';

export const verifyCertificateRoute = defineRoute({
  operationId: 'verifyCertificate',
  method: 'GET',
  path: '/api/v1/verify/{verificationCode}',
  tags: ['public'],
  summary: 'Public verification (QR code target)',
  description:
    'Minimal public data of an issued certificate: name, course, issue date and whether it is still valid.',
  request: {
    path: z.object({
      verificationCode: z
        .string({ error: 'is required' })
        .regex(/^[A-Za-z0-9-]{6,64}$/, 'must be 6-64 letters or digits')
        .meta({ description: 'The code printed under the QR code' }),
    }),
  },
  policy: anyone,
  responses: {
    200: { description: 'The certificate exists', schema: publicVerificationSchema },
    404: { description: 'No issued certificate has this code' },
  },
  // Short shared caching only: a revocation must show up within a minute.
  handle: async (deps: AnalyticsAware & { sql: Sql }, { path, event }) => {
    const verification = await verifyCertificate(deps.sql, path.verificationCode);
    await recordPublicEvent(deps, 'verification-view', path.verificationCode, event);
    return ok(verification, { 'Cache-Control': 'public, max-age=60' });
  },
});
