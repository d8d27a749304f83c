import type { ReadScope } from '../certificates/read-model.ts';
import { ForbiddenError } from '../errors.ts';
import type { Principal } from './principal.ts';

/**
 * Authorisation, one place. Every route declares one policy (lib/http/routes/*); the route
 * contract applies it before the use-case runs, the same way for reads and writes. Row-level
 * reads (one certificate, a download) get a ReadScope from here and the query is limited to it.
 *
 * Roles grant permissions. Today every staff role (AUTH_STAFF_ROLES: certificate-admin,
 * teacher by default) grants all of them. The operations issue splits them here and nowhere
 * else: certificate-admin keeps all; teacher reads certificates (of their courses); an
 * ingestion client only records attempts.
 */
export type Permission =
  /** Read any student's certificates, and a course's list. */
  | 'certificates:read-any'
  /** Give a dead or failed certificate fresh attempts. */
  | 'certificates:requeue'
  /** Report test attempts (the testing system). */
  | 'attempts:record'
  /** Render templates with sample data. */
  | 'templates:preview';

export function grants(principal: Principal, _permission: Permission): boolean {
  return principal.isStaff;
}

export interface Policy<Input = unknown> {
  /** false: anyone may call, no token is read. */
  readonly authenticated: boolean;
  /** Who may call, for the OpenAPI document. */
  readonly description: string;
  /** Throws ForbiddenError when `principal` may not perform the operation on `input`. */
  authorize(principal: Principal, input: Input): void;
}

/** No token needed (health, OpenAPI, public verification). */
export const anyone: Policy = {
  authenticated: false,
  description: 'Public: no token needed.',
  authorize: () => undefined,
};

/** Any valid token; what it may see is limited by readScope(). */
export const signedIn: Policy = {
  authenticated: true,
  description: 'Any signed-in user; a student sees only their own certificates.',
  authorize: () => undefined,
};

/** Only callers holding `permission`; `action` completes "Only staff may ...". */
export function requires(permission: Permission, action: string): Policy {
  return {
    authenticated: true,
    description: `Requires \`${permission}\` (staff roles).`,
    authorize(principal) {
      if (!grants(principal, permission)) throw new ForbiddenError(`Only staff may ${action}`);
    },
  };
}

/** The student named in the request themself, or callers holding `certificates:read-any`. */
export function studentOrReader<Input>(studentIdOf: (input: Input) => string): Policy<Input> {
  return {
    authenticated: true,
    description: 'The student themself, or `certificates:read-any` (staff roles).',
    authorize(principal, input) {
      if (!inScope(readScope(principal), studentIdOf(input))) {
        throw new ForbiddenError("Only staff may read another student's certificates");
      }
    },
  };
}

/** Whose certificates the caller may read. */
export function readScope(principal: Principal): ReadScope {
  return grants(principal, 'certificates:read-any')
    ? { kind: 'any' }
    : { kind: 'student', studentId: principal.subject };
}

export function inScope(scope: ReadScope, studentId: string): boolean {
  return scope.kind === 'any' || scope.studentId.toLowerCase() === studentId.toLowerCase();
}
