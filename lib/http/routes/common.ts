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

/** `{verificationCode}`: the code printed under the QR code (the public verification routes). */
export const verificationCodePath = z.object({
  verificationCode: z
    .string({ error: 'is required' })
    .regex(/^[A-Za-z0-9-]{6,64}$/, 'must be 6-64 letters or digits')
    .meta({ description: 'The code printed under the QR code' }),
});
