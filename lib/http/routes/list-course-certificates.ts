import { z } from 'zod';
import { requires } from '../../auth/policies.ts';
import { listCourseCertificates } from '../../certificates/read-model.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { pageBody, pageQuery, pageQuerySchema } from '../pagination.ts';
import { uuidParam } from '../params.ts';
import { ok } from '../response.ts';
import { pageResponse } from './common.ts';

export const listCourseCertificatesRoute = defineRoute({
  operationId: 'listCourseCertificates',
  method: 'GET',
  path: '/api/v1/courses/{courseId}/certificates',
  tags: ['certificates'],
  summary: "A course's certificates (staff)",
  description: 'Guide: `GET /api/v1/certificates/course/{course_id}`. Staff roles only; others get 403.',
  request: { path: z.object({ courseId: uuidParam('Course id') }), query: pageQuerySchema },
  // Checked before the course lookup, so non-staff cannot learn which course ids exist.
  policy: requires('certificates:read-any', "list a course's certificates"),
  responses: { 200: pageResponse, 404: { description: 'Unknown course' } },
  handle: async (deps: ReadDeps, { path, query }) =>
    ok(pageBody(await listCourseCertificates(deps.sql, path.courseId, pageQuery(query)))),
});
