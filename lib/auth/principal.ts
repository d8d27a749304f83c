/**
 * What a caller may do. Roles from the token are mapped to these in one place
 * (lib/auth/policies.ts, permissionsFor); routes and use-cases only ever ask for a permission.
 */
export const PERMISSIONS = [
  /** Read any student's certificates, and a course's list. */
  'certificates:read-any',
  /** Give a dead or failed certificate fresh attempts. */
  'certificates:requeue',
  /** Revoke and reissue issued certificates, and see the later passes waiting for staff. */
  'certificates:lifecycle',
  /** Create certificates for past attempts (backfill) for a course. */
  'certificates:backfill',
  /** Report test attempts (the testing system). */
  'attempts:record',
  /** Render templates with sample data. */
  'templates:preview',
  /** Register, rotate and disable webhook endpoints; read and replay their deliveries. */
  'webhooks:manage',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

/**
 * Who is calling, as established from a verified access token. Plain data: the domain
 * (lib/certificates) reads it without knowing about JWTs, middy or Lambda.
 */
export interface Principal {
  /** The token's `sub`: the Keycloak user id, which is the `student_id` of their certificates. */
  subject: string;
  /** Realm roles and the client roles of the AUTH_AUDIENCE clients, merged. */
  roles: ReadonlySet<string>;
  /** What the roles (and, for ingestion, the client) grant. Empty for a student. */
  permissions: ReadonlySet<Permission>;
  /** The client the token was issued to (`azp`): identifies a service account. */
  clientId?: string;
}
