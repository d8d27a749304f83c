import type { Sql } from '../db/client.ts';
import { ConfigurationError } from '../errors.ts';
import type { KeyState, PublishedKey } from './jwks.ts';
import type { PublicIssuerJwk, SigningKey } from './keys.ts';

/**
 * Published issuer keys in PostgreSQL (issuer_keys): public halves and their state only.
 */

/**
 * Publishes the key a signer holds. A key seen for the first time becomes current and the
 * previous current key of the same algorithm retires (rotation = deploy a new secret; the ES256
 * facts key and the RS256 credentials key rotate apart). A known key keeps its state: a
 * compromised key is never made current again, nor is a retired one by an old container starting
 * up, unless its algorithm has no current key at all.
 * Returns the key's state.
 */
export async function registerSigningKey(sql: Sql, key: SigningKey): Promise<KeyState> {
  return sql.begin(async (tx) => {
    // Serialises concurrent cold starts registering different keys.
    await tx`SELECT pg_advisory_xact_lock(hashtext('issuer_keys'))`;
    const [known] = await tx<{ state: KeyState }[]>`SELECT state FROM issuer_keys WHERE kid = ${key.kid}`;
    if (known?.state === 'retired') {
      // Code from before the per-algorithm index (1734700000000) retired every current key when
      // it registered a new one, the RS256 key with a new facts key. A retired key whose algorithm
      // has no current key is the one its secret holds: current again. After a rotation the new
      // key is current, and a container still holding the old one leaves it retired.
      const [current] = await tx`
        SELECT 1 FROM issuer_keys WHERE state = 'current' AND public_jwk->>'alg' = ${key.alg}`;
      if (current) return known.state;
      await tx`UPDATE issuer_keys SET state = 'current', retired_at = NULL WHERE kid = ${key.kid}`;
      return 'current' as const;
    }
    if (known) return known.state;
    await tx`
      UPDATE issuer_keys SET state = 'retired', retired_at = now()
      WHERE state = 'current' AND public_jwk->>'alg' = ${key.alg}`;
    await tx`
      INSERT INTO issuer_keys (kid, public_jwk, state)
      VALUES (${key.kid}, ${tx.json({ ...key.publicJwk })}::jsonb, 'current')`;
    return 'current' as const;
  });
}

/** Every published key, newest first. */
export async function publishedKeys(sql: Sql): Promise<PublishedKey[]> {
  const rows = await sql<{ public_jwk: PublicIssuerJwk; state: KeyState; compromised_at: Date | null }[]>`
    SELECT public_jwk, state, compromised_at FROM issuer_keys ORDER BY created_at DESC, kid`;
  return rows.map((row) => ({
    jwk: row.public_jwk,
    state: row.state,
    ...(row.state === 'compromised' ? { revokedAt: row.compromised_at?.toISOString() ?? null } : {}),
  }));
}

/**
 * Marks a key compromised (operators: rotate the secret, then `npm run compromise-key`). Returns
 * false if unknown. Marking it again keeps the time of the first mark, which the JWK Set publishes.
 */
export async function markKeyCompromised(sql: Sql, kid: string): Promise<boolean> {
  const rows = await sql`
    UPDATE issuer_keys SET state = 'compromised', compromised_at = COALESCE(compromised_at, now())
    WHERE kid = ${kid} RETURNING kid`;
  return rows.length === 1;
}

/** State of one key, or undefined when it was never published. */
export async function keyState(sql: Sql, kid: string): Promise<KeyState | undefined> {
  const [row] = await sql<{ state: KeyState }[]>`SELECT state FROM issuer_keys WHERE kid = ${kid}`;
  return row?.state;
}

interface StateWaiter {
  resolve: (state: KeyState | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * keyState for several keys asked at once, in one statement: generate signs a certificate's facts
 * (ES256 key) and its Open Badges credential (RS256 key) together, and each signature reads its
 * key's state first. The asks of one turn of the event loop share a read that starts after the
 * last of them, so no signature sees a state read before it asked.
 */
export function createKeyStateReader(sql: Sql): (kid: string) => Promise<KeyState | undefined> {
  let pending: Map<string, StateWaiter[]> | undefined;
  const flush = async (batch: Map<string, StateWaiter[]>) => {
    try {
      const rows = await sql<{ kid: string; state: KeyState }[]>`
        SELECT kid, state FROM issuer_keys WHERE kid = ANY(${[...batch.keys()]}::text[])`;
      const states = new Map(rows.map((row) => [row.kid, row.state]));
      for (const [kid, waiters] of batch) for (const waiter of waiters) waiter.resolve(states.get(kid));
    } catch (error) {
      for (const waiters of batch.values()) for (const waiter of waiters) waiter.reject(error);
    }
  };
  return (kid) => {
    let waiter: StateWaiter | undefined;
    const promise = new Promise<KeyState | undefined>((resolve, reject) => {
      waiter = { resolve, reject };
    });
    if (!waiter) throw new Error('unreachable: a Promise runs its executor at once');
    if (!pending) {
      const batch = new Map<string, StateWaiter[]>();
      pending = batch;
      setImmediate(() => {
        pending = undefined;
        void flush(batch);
      });
    }
    const waiters = pending.get(kid) ?? [];
    waiters.push(waiter);
    pending.set(kid, waiters);
    return promise;
  };
}

/**
 * The key this container holds was marked compromised: a setup problem, not the certificate's
 * (a ConfigurationError: generate gives the attempt back, waits CONFIGURATION_RETRY_SECONDS and
 * counts it in the ConfigurationErrors metric). The signer drops the key and reads the secret
 * again at its next signature.
 */
export class CompromisedKeyError extends ConfigurationError {
  constructor(kid: string) {
    super(
      `signing key ${kid} is marked compromised; put a new key in the secret (README, "Rotation")`,
      'signing-key',
    );
  }
}
