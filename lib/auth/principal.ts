/**
 * Who is calling, as established from a verified access token. Plain data: the domain
 * (lib/certificates) reads it without knowing about JWTs, middy or Lambda.
 */
export interface Principal {
  /** The token's `sub`: the Keycloak user id, which is the `student_id` of their certificates. */
  subject: string;
  /** Realm roles and client roles, merged. */
  roles: ReadonlySet<string>;
  /** Holds one of the configured staff roles: may read any certificate and any list. */
  isStaff: boolean;
  /** The client the token was issued to (`azp`), for logs. */
  clientId?: string;
}
