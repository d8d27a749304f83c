import { z } from 'zod';
import type { ResponseSpec } from '../contract.ts';
import { uuidParam } from '../params.ts';
import { certificatePageSchema, certificateSchema, errorSchema } from '../schemas.ts';

/** Pieces several route declarations share; each route still declares its own responses. */

export const certificateIdPath = z.object({ certificateId: uuidParam('Certificate id') });
export const studentIdPath = z.object({ studentId: uuidParam('Keycloak user id of the student') });

export const pageResponse: ResponseSpec = {
  description: 'One page, newest first',
  schema: certificatePageSchema,
};
export const certificateResponse: ResponseSpec = {
  description: 'The certificate',
  schema: certificateSchema,
};
export const errorResponse = (description: string): ResponseSpec => ({ description, schema: errorSchema });

/** The Retry-After of a 409 for a certificate not generated (read-model's notGeneratedError). */
export const notReadyHeaders = z.object({
  'Retry-After': z
    .number()
    .int()
    .optional()
    .meta({
      description:
        'Seconds to wait before asking again (`certificate_not_ready` only): 5 while it is being ' +
        'generated, the time to its next attempt (at most 3600) when it waits out a retry after a failure',
    }),
});

/** `{verificationCode}`: the code printed under the QR code (the public credential route). */
export const verificationCodePath = z.object({
  verificationCode: z
    .string({ error: 'is required' })
    .regex(/^[A-Za-z0-9-]{6,64}$/, 'must be 6-64 letters, digits or hyphens')
    .meta({ description: 'The code printed under the QR code' }),
});

/**
 * `{verificationCode}` of the verification page (what a scanned or typed URL opens): any value
 * up to 128 characters reaches the route, whose handler checks the code's form
 * (verificationResponse), so a browser that opens a mistyped code gets the not-found page in its
 * language, not a JSON 400.
 */
export const verificationPagePath = z.object({
  verificationCode: z
    .string({ error: 'is required' })
    .max(128, 'must be at most 128 characters')
    .meta({
      description:
        'The code printed under the QR code: 6-64 letters, digits or hyphens. Another value is a 400 ' +
        'with `Accept: application/json`, else the not-found page (404).',
    }),
});
