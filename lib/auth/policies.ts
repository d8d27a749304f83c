import type { ReadScope } from '../certificates/read-model.ts';
import { ForbiddenError } from '../errors.ts';
import { PERMISSIONS, type Permission, type Principal } from './principal.ts';

/**
 * Authorisation, one place. Every route declares one policy (lib/http/routes/*); the route
 * contract applies it before the use-case runs, the same way for reads and writes. Row-level
 * reads (one certificate, a download) get a ReadScope from here and the query is limited to it.
 *
 * Roles grant permissions (permissionsFor, at token verification), each list configurable:
 * - AUTH_ADMIN_ROLES (certificate-admin): everything.
 * - AUTH_TEACHER_ROLES (teacher): read certificates of any student and course, preview templates.
 *   Never record attempts: a score posted by hand would issue a certificate.
 * - AUTH_INGESTION_ROLES (certificate-ingestion), or a token whose `azp` is one of
 *   AUTH_INGESTION_CLIENTS (the testing system's service account): record attempts, nothing else.
 */
export type { Permission } from './principal.ts';

export interface RoleConfig {
  AUTH_ADMIN_ROLES: readonly string[];
  AUTH_TEACHER_ROLES: readonly string[];
  AUTH_INGESTION_ROLES: readonly string[];
  AUTH_INGESTION_CLIENTS: readonly string[];
}

const TEACHER_PERMISSIONS: readonly Permission[] = ['certificates:read-any', 'templates:preview'];
const INGESTION_PERMISSIONS: readonly Permission[] = ['attempts:record'];

export function permissionsFor(
  roles: ReadonlySet<string>,
  clientId: string | undefined,
  config: RoleConfig,
): ReadonlySet<Permission> {
  const has = (wanted: readonly string[]) => wanted.some((role) => roles.has(role));
  const granted = new Set<Permission>();
  if (has(config.AUTH_ADMIN_ROLES)) for (const permission of PERMISSIONS) granted.add(permission);
  if (has(config.AUTH_TEACHER_ROLES)) for (const permission of TEACHER_PERMISSIONS) granted.add(permission);
  if (
    has(config.AUTH_INGESTION_ROLES) ||
    (clientId !== undefined && config.AUTH_INGESTION_CLIENTS.includes(clientId))
  )
    for (const permission of INGESTION_PERMISSIONS) granted.add(permission);
  return granted;
}

export function grants(principal: Principal, permission: Permission): boolean {
  return principal.permissions.has(permission);
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

/** Who holds `permission` by default, in words, for error messages and the OpenAPI document. */
function rolesGranting(permission: Permission): string {
  if (INGESTION_PERMISSIONS.includes(permission)) return 'the ingestion client or certificate-admin';
  if (TEACHER_PERMISSIONS.includes(permission)) return 'staff (certificate-admin, teacher)';
  return 'certificate-admin';
}

/** Only callers holding `permission`; `action` completes "Only <who> may ...". */
export function requires(permission: Permission, action: string): Policy {
  return {
    authenticated: true,
    description: `Requires \`${permission}\` (${rolesGranting(permission)}).`,
    authorize(principal) {
      if (!grants(principal, permission))
        throw new ForbiddenError(`Only ${rolesGranting(permission)} may ${action}`);
    },
  };
}

/** The student named in the request themself, or callers holding `certificates:read-any`. */
export function studentOrReader<Input>(studentIdOf: (input: Input) => string): Policy<Input> {
  return {
    authenticated: true,
    description: 'The student themself, or `certificates:read-any` (certificate-admin, teacher).',
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
