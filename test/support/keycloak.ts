import { randomUUID } from 'node:crypto';
import type { StandInClient, StandInUser } from '../../localstack/embedded/keycloak.ts';

/** Client for the Keycloak stand-in's control API (`/__stand-in/`), used by tests only. */
export function keycloakControl(baseUrl: string) {
  const post = async (path: string, body: unknown): Promise<Response> => {
    const response = await fetch(`${baseUrl}/__stand-in/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`stand-in ${path} answered ${response.status}`);
    return response;
  };
  return {
    async addUser(
      user: Partial<StandInUser> & { firstName?: string; lastName?: string },
    ): Promise<StandInUser> {
      const full: StandInUser = { id: randomUUID(), username: `user-${randomUUID().slice(0, 8)}`, ...user };
      await post('users', full);
      return full;
    },
    /**
     * Registers a confidential client and returns a token from the real token endpoint
     * (client_credentials grant): what a service account such as the testing system presents.
     */
    async serviceAccountToken(client: StandInClient, realm: string): Promise<string> {
      await post('clients', client);
      const response = await fetch(`${baseUrl}/realms/${realm}/protocol/openid-connect/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: client.clientId,
          client_secret: client.secret,
        }),
      });
      if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
      return ((await response.json()) as { access_token: string }).access_token;
    },
    /** Makes admin lookups of `target` (a user id, or "*" for all, or "token") answer `status` (0 = connection reset). */
    async fault(target: string, status: number, count?: number, delayMs?: number): Promise<void> {
      await post('faults', { target, status, count, delayMs });
    },
    async clearFault(target: string): Promise<void> {
      await fetch(`${baseUrl}/__stand-in/faults/${encodeURIComponent(target)}`, { method: 'DELETE' });
    },
    async token(
      userId: string,
      options: { clientId?: string; expiresInSeconds?: number; claims?: Record<string, unknown> } = {},
    ): Promise<string> {
      const response = await post('tokens', { userId, ...options });
      return ((await response.json()) as { access_token: string }).access_token;
    },
    async rotateKey(): Promise<string> {
      const response = await post('rotate-key', {});
      return ((await response.json()) as { kid: string }).kid;
    },
  };
}
