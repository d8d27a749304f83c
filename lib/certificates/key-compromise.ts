import type { Sql } from '../db/client.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { parseActor, queueReplacements, reissueInputSchema } from './lifecycle.ts';
import type { IssuerKeyRegistry, Log } from './ports.ts';

/**
 * After an issuer key leaks: mark it compromised, then replace every certificate it signed that a
 * verifier would still accept: the facts key's (credential_kid: the QR code and certificate.jwt)
 * or the credentials key's (open_badge_kid: the Open Badges credential in the PDF). Marking alone
 * leaves each holder a PDF, a QR link and an embedded credential that every verifier now
 * rejects ("signed with a revoked key") while the record, the download and the holder's own views
 * go on calling it valid. Each replacement is a staff reissue (same attempt, the original's expiry
 * kept, rendered and signed by the normal pipeline with the current keys); when it is issued, its
 * original is superseded and points to it, and the holder's webhooks hear `certificate.reissued`.
 *
 * A render that signed with the key just before the mark commits its certificate after it: the
 * mark is followed by a wait for the renders then in flight (until they settle, or their lease
 * runs out, which a generate function outlives only by being killed), so those are replaced too.
 * Running it again is safe: a certificate already waiting for its replacement is not given a second.
 */

export interface KeyCompromiseDeps {
  sql: Sql;
  log: Log;
  keys: IssuerKeyRegistry;
  /** Waits between looks at the renders in flight (tests pass a fast one). */
  sleep?: (ms: number) => Promise<void>;
  /** Told before waiting for the renders in flight (the CLI says so: the wait can last a lease). */
  onWait?: (renders: number) => void;
}

export interface KeyCompromiseInput {
  kid: string;
  actor: string;
  /** Change nothing: count what would be replaced. */
  dryRun?: boolean;
  /**
   * Mark the key even though it is the current signing key (the leak was found before a new key
   * could be put in place). Otherwise refused: the README's order is to rotate first, and a
   * mistyped kid must not stop all issuing and distrust everything the current key signed.
   */
  allowCurrent?: boolean;
}

/** The key to mark is the one signing now, and the caller did not say that is meant. */
export class CurrentKeyError extends ConflictError {
  constructor(kid: string) {
    super(
      `key ${kid} is the current signing key: put a new key in the signing secret first (README, "Rotation"), so the replacements can be signed. A key stays current here until something is signed with its successor: if the secret already holds the new key, or to mark it anyway (issuing then stops until the secret holds a new key), say so with --current`,
      { kid, state: 'current' },
    );
  }
}

export interface KeyCompromiseReport {
  kid: string;
  /** The key's state before this run: `compromised` when an earlier run or an operator marked it. */
  previousState: 'current' | 'retired' | 'compromised';
  /** Renders in flight (their lease running) when the key was marked, waited for. */
  rendersWaitedFor: number;
  /** Replacements created now (pending: the scan hands them to generate at its budget's rate). */
  replacementsQueued: number;
  /** Issued, signed with the key, that already had a replacement (not given a second). */
  alreadyReplacing: number;
  /**
   * Of those, the replacements that failed for good (`dead`): they issue nothing until someone
   * requeues them, so their holders keep what the key signed meanwhile.
   */
  deadReplacements: string[];
  /** Expired certificates signed with the key: a reissue keeps the expiry, so they are left as they are. */
  expiredLeft: number;
}

/** Ids of the certificates fetched, and replaced, per statement: bounded locks and statements. */
const BATCH = 500;
const POLL_MS = 500;

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function compromiseIssuerKey(
  deps: KeyCompromiseDeps,
  input: KeyCompromiseInput,
): Promise<KeyCompromiseReport> {
  const { sql, log } = deps;
  const actor = parseActor(input.actor);
  const previousState = await deps.keys.state(input.kid);
  if (!previousState) throw new NotFoundError('issuer key');
  if (previousState === 'current' && !input.dryRun && !input.allowCurrent)
    throw new CurrentKeyError(input.kid);
  const reason = reissueInputSchema.parse({
    reason: `Issuer key ${input.kid} reported compromised: reissued with the current key`,
  }).reason;

  let rendersWaitedFor = 0;
  if (!input.dryRun) {
    await deps.keys.markCompromised(input.kid);
    // From this commit on, no signer uses the key (each signature reads its state first); what
    // it signed before may still be on its way to being issued. Not a render whose lease has run
    // out: its worker is gone (a generate function never outlives its lease), and the scan's
    // takeover signs with the current key.
    const inFlight = await sql<{ id: string; lease_owner: string | null; lease_expires_at: Date }[]>`
      SELECT id, lease_owner, lease_expires_at FROM certificates
      WHERE status = 'rendering' AND lease_expires_at > now()`;
    rendersWaitedFor = inFlight.length;
    if (inFlight.length > 0) deps.onWait?.(inFlight.length);
    await waitForRenders(deps, inFlight);
  }

  let replacementsQueued = 0;
  let alreadyReplacing = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const batch = await sql<{ id: string; replacing: boolean }[]>`
      SELECT c.id, EXISTS (SELECT 1 FROM certificates r WHERE r.replaces = c.id) AS replacing
      FROM certificates c
      WHERE ${input.kid} IN (c.credential_kid, c.open_badge_kid) AND c.status = 'issued'
        AND (c.expires_at IS NULL OR c.expires_at > now()) AND c.id > ${after}
      ORDER BY c.id LIMIT ${BATCH}`;
    const last = batch.at(-1);
    if (!last) break;
    after = last.id;
    const waiting = batch.filter((row) => row.replacing).length;
    if (input.dryRun) {
      replacementsQueued += batch.length - waiting;
      alreadyReplacing += waiting;
      continue;
    }
    const queued = await queueReplacements(
      sql,
      batch.map((row) => row.id),
      reason,
      actor,
    );
    replacementsQueued += queued.length;
    alreadyReplacing += batch.length - queued.length;
  }
  const dead = await sql<{ id: string }[]>`
    SELECT r.id FROM certificates c JOIN certificates r ON r.replaces = c.id
    WHERE ${input.kid} IN (c.credential_kid, c.open_badge_kid) AND c.status = 'issued'
      AND (c.expires_at IS NULL OR c.expires_at > now()) AND r.status = 'dead'
    ORDER BY r.id`;
  const [expired] = await sql<{ count: number }[]>`
    SELECT count(*)::int AS count FROM certificates
    WHERE ${input.kid} IN (credential_kid, open_badge_kid) AND status = 'issued' AND expires_at <= now()`;
  const report: KeyCompromiseReport = {
    kid: input.kid,
    previousState,
    rendersWaitedFor,
    replacementsQueued,
    alreadyReplacing,
    deadReplacements: dead.map((row) => row.id),
    expiredLeft: expired?.count ?? 0,
  };
  if (!input.dryRun)
    log.info('Issuer key marked compromised', {
      ...report,
      deadReplacements: report.deadReplacements.length,
      actor,
    });
  return report;
}

/** Until each render in flight has settled (issued, failed, or taken over) or its lease has run out. */
async function waitForRenders(
  deps: KeyCompromiseDeps,
  inFlight: readonly { id: string; lease_owner: string | null; lease_expires_at: Date }[],
): Promise<void> {
  const sleep = deps.sleep ?? defaultSleep;
  let pending = [...inFlight];
  while (pending.length > 0) {
    const rows = await deps.sql<{ id: string; lease_owner: string | null; now: Date }[]>`
      SELECT id, lease_owner, now() AS now FROM certificates
      WHERE id = ANY (${pending.map((row) => row.id)}::uuid[]) AND status = 'rendering'`;
    const running = new Map(rows.map((row) => [row.id, row]));
    pending = pending.filter((render) => {
      const row = running.get(render.id);
      return row !== undefined && row.lease_owner === render.lease_owner && render.lease_expires_at > row.now;
    });
    if (pending.length > 0) await sleep(POLL_MS);
  }
}
