import type { JWTPayload } from 'jose';

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/**
 * Keycloak puts realm roles in `realm_access.roles` and client roles in
 * `resource_access.<clientId>.roles`. Realm roles count, and the client roles of `clients`
 * only: the clients this service accepts tokens for (AUTH_AUDIENCE). Another client's roles
 * are that application's business; a `teacher` role someone defines on an unrelated client
 * must not grant staff rights here.
 * Malformed shapes yield no roles rather than an error: a token without roles is a student.
 */
export function rolesFromClaims(payload: JWTPayload, clients: ReadonlySet<string>): Set<string> {
  const roles = new Set<string>();
  const realmAccess = payload.realm_access;
  if (realmAccess && typeof realmAccess === 'object') {
    for (const role of stringArray((realmAccess as { roles?: unknown }).roles)) roles.add(role);
  }
  const resourceAccess = payload.resource_access;
  if (resourceAccess && typeof resourceAccess === 'object') {
    for (const [clientId, client] of Object.entries(resourceAccess as Record<string, unknown>)) {
      if (!clients.has(clientId)) continue;
      if (client && typeof client === 'object') {
        for (const role of stringArray((client as { roles?: unknown }).roles)) roles.add(role);
      }
    }
  }
  return roles;
}
