import { z } from 'zod';
import { requires } from '../../auth/policies.ts';
import { type PreviewDeps, previewFromRequest, previewRequestSchema } from '../../render/preview.ts';
import { MAX_TEMPLATE_BYTES } from '../../render/template-engine.ts';
import { defineRoute } from '../contract.ts';
import type { ReadDeps } from '../deps.ts';
import { ok } from '../response.ts';

export type PreviewTemplateDeps = ReadDeps & Omit<PreviewDeps, 'sql'>;

export const previewTemplateRoute = defineRoute({
  operationId: 'previewTemplate',
  method: 'POST',
  path: '/api/v1/templates/preview',
  tags: ['templates'],
  summary: 'Render a certificate template with sample data (staff)',
  description:
    'Renders a stored template (`templateId`), a draft (`template`, validated like a save: an unknown ' +
    'field answers 400) or the built-in default, with sample values. Nothing is stored.',
  // A draft carries its whole HTML and CSS (up to MAX_TEMPLATE_BYTES), which JSON escaping can
  // double: past the 16 KiB every other body is held to.
  request: { body: previewRequestSchema, maxBodyBytes: 2 * MAX_TEMPLATE_BYTES + 16 * 1024 },
  policy: requires('templates:preview', 'preview certificate templates'),
  responses: {
    200: {
      description: 'The rendered PDF as a data URL',
      schema: z.object({
        pdf: z.string().meta({ description: 'data:application/pdf;base64,...' }),
        bytes: z.number().int(),
        template: z.object({ id: z.string().nullable(), version: z.string() }),
      }),
    },
    404: { description: 'Unknown templateId' },
  },
  handle: async (deps: PreviewTemplateDeps, { body }) => ok(await previewFromRequest(deps, body)),
});
