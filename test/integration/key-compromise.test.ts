import { describe, expect, it } from 'vitest';
import { generateCertificate } from '../../lib/certificates/generate.ts';
import { compromiseIssuerKey } from '../../lib/certificates/key-compromise.ts';
import { reissueCertificate, revokeCertificate } from '../../lib/certificates/lifecycle.ts';
import { findPublicCertificate, getCertificate } from '../../lib/certificates/read-model.ts';
import { keyState, markKeyCompromised } from '../../lib/credentials/key-store.ts';
import { generateSigningJwk, type SigningKey, signingKeyFromJwk } from '../../lib/credentials/keys.ts';
import { createCredentialSigner, createIssuerKey } from '../../lib/credentials/signer.ts';
import type { Sql } from '../../lib/db/client.ts';
import { NotFoundError, ValidationError } from '../../lib/errors.ts';
import type { TestEnv } from '../support/env.ts';
import { runScript } from '../support/run-script.ts';
import {
  createCourse,
  createPendingCertificate,
  credentialSettingsFor,
  generateOptions,
  generateSigners,
  makeGenerateDeps,
  pipelineTestFile,
} from './pipeline-fixtures.ts';

/** The key store's registry, as scripts/compromise-key.ts wires it. */
const keysOf = (sql: Sql) => ({
  state: (kid: string) => keyState(sql, kid),
  markCompromised: (kid: string) => markKeyCompromised(sql, kid),
});

/** `npm run compromise-key`: after a key leaks, what it signed is marked and replaced. */

let t: TestEnv;
const { renderer, keycloak, log } = pipelineTestFile(
  (env) => {
    t = env;
  },
  { maxPages: 1 },
);
const options = generateOptions();
const SETTINGS = credentialSettingsFor(options);

/** A generate container whose secret holds `key`. */
const containerWith = (key: SigningKey) => ({
  signer: createCredentialSigner(createIssuerKey(t.sql, async () => key, { reloadAfterMs: 3_600_000 })),
});

async function issueWith(deps: ReturnType<typeof containerWith>): Promise<string> {
  const user = await keycloak.addUser({ firstName: 'Grace', lastName: 'Hopper' });
  const courseId = await createCourse(t.sql, { title: 'Compilers 101' });
  const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
  const outcome = await generateCertificate(makeGenerateDeps(t, renderer, deps), options, id);
  expect(outcome.status).toBe('issued');
  return id;
}

async function row(id: string) {
  const [found] = await t.sql<
    {
      status: string;
      credential_kid: string | null;
      superseded_by: string | null;
      verification_code: string;
    }[]
  >`SELECT status::text, credential_kid, superseded_by, verification_code FROM certificates WHERE id = ${id}`;
  if (!found) throw new Error(`no certificate ${id}`);
  return found;
}

async function replacementOf(id: string): Promise<string | undefined> {
  const [found] = await t.sql<{ id: string }[]>`SELECT id FROM certificates WHERE replaces = ${id}`;
  return found?.id;
}

const newKey = async () => signingKeyFromJwk(await generateSigningJwk());

/** A rotation: a container with a new key (or `key`) signs, which publishes it as current and retires the previous one. */
const rotate = async (key?: SigningKey) =>
  containerWith(key ?? (await newKey())).signer.sign({
    code: 'ROTATE00000000001',
    name: 'Grace Hopper',
    course: 'Compilers 101',
    score: '90/100',
    issued: '2026-12-05',
    expires: null,
    issuer: 'Northbridge Academy',
  });

describe('an issuer key reported compromised', () => {
  it('replaces every certificate it signed that a verifier would accept, with the current key; a dry run changes nothing; a second run queues none', async () => {
    const leaked = await newKey();
    const withLeaked = containerWith(leaked);
    const [kept, other, revoked, expired, waiting, stuck] = [
      await issueWith(withLeaked),
      await issueWith(withLeaked),
      await issueWith(withLeaked),
      await issueWith(withLeaked),
      await issueWith(withLeaked),
      await issueWith(withLeaked),
    ];
    await revokeCertificate(
      { sql: t.sql, log },
      { certificateId: revoked, reasonCode: 'issued-in-error', actor: 'staff' },
    );
    await t.sql`UPDATE certificates SET expires_at = now() - interval '1 day' WHERE id = ${expired}`;
    const earlier = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: waiting, reason: 'typo', actor: 'staff' },
    );
    // A replacement that failed for good: nothing issues it until someone requeues it.
    const failed = await reissueCertificate(
      { sql: t.sql, log },
      { certificateId: stuck, reason: 'typo', actor: 'staff' },
    );
    await t.sql`UPDATE certificates SET status = 'dead' WHERE id = ${failed.id}`;
    // The rotation: the new key signs from now on, and the leaked one is retired.
    const rotated = await newKey();
    const withRotated = containerWith(rotated);
    const unrelated = await issueWith(withRotated);

    const preview = await compromiseIssuerKey(
      { sql: t.sql, log, keys: keysOf(t.sql) },
      { kid: leaked.kid, actor: 'incident-42', dryRun: true },
    );
    expect(preview).toMatchObject({
      previousState: 'retired',
      replacementsQueued: 2,
      alreadyReplacing: 2,
      deadReplacements: [failed.id],
      expiredLeft: 1,
    });
    expect(await keyState(t.sql, leaked.kid)).toBe('retired');
    expect(await replacementOf(kept)).toBeUndefined();

    const report = await compromiseIssuerKey(
      { sql: t.sql, log, keys: keysOf(t.sql) },
      { kid: leaked.kid, actor: 'incident-42' },
    );
    expect(report).toEqual({
      kid: leaked.kid,
      previousState: 'retired',
      rendersWaitedFor: 0,
      replacementsQueued: 2,
      alreadyReplacing: 2,
      deadReplacements: [failed.id],
      expiredLeft: 1,
    });
    expect(await keyState(t.sql, leaked.kid)).toBe('compromised');
    // The holder's own view says what the public page says, and offers no LinkedIn link for it.
    const links = {
      verifyBaseUrl: 'https://verify.example.org/c',
      issuer: { organizationName: 'Northbridge Academy' },
    };
    const holderView = (id: string) => getCertificate(t.sql, { kind: 'any' }, id, links);
    expect(await holderView(kept)).toMatchObject({ signedWithRevokedKey: true, linkedInUrl: null });
    expect(await holderView(unrelated)).toMatchObject({ signedWithRevokedKey: false });
    expect((await holderView(unrelated)).linkedInUrl).toMatch(/^https:\/\/www\.linkedin\.com\//);
    const [marked] = await t.sql<{ compromised_at: Date }[]>`
      SELECT compromised_at FROM issuer_keys WHERE kid = ${leaked.kid}`;
    for (const untouched of [revoked, expired, unrelated])
      expect(await replacementOf(untouched)).toBeUndefined();
    expect(await replacementOf(waiting)).toBe(earlier.id);
    const audit = await t.sql<{ certificate_id: string; actor: string; message: string }[]>`
      SELECT certificate_id, actor, message FROM certificate_generation_log
      WHERE event = 'reissue-requested' AND actor = 'incident-42' ORDER BY certificate_id`;
    expect(audit.map((entry) => entry.certificate_id)).toEqual([kept, other].sort());
    expect(audit[0]?.message).toContain(leaked.kid);

    // The pipeline issues each replacement with the current key; its original is superseded.
    for (const original of [kept, other]) {
      const replacement = (await replacementOf(original)) ?? '';
      expect(await row(replacement)).toMatchObject({ status: 'pending' });
      const outcome = await generateCertificate(
        makeGenerateDeps(t, renderer, withRotated),
        options,
        replacement,
      );
      expect(outcome.status).toBe('issued');
      expect(await row(replacement)).toMatchObject({ status: 'issued', credential_kid: rotated.kid });
      expect(await holderView(replacement)).toMatchObject({ signedWithRevokedKey: false });
      const before = await row(original);
      expect(before).toMatchObject({ status: 'superseded', superseded_by: replacement });
      const page = await findPublicCertificate(t.sql, before.verification_code);
      expect(page?.status).toBe('superseded');
    }

    const again = await compromiseIssuerKey(
      { sql: t.sql, log, keys: keysOf(t.sql) },
      { kid: leaked.kid, actor: 'incident-42' },
    );
    expect(again).toMatchObject({
      previousState: 'compromised',
      replacementsQueued: 0,
      alreadyReplacing: 2,
      deadReplacements: [failed.id],
      expiredLeft: 1,
    });
    // The time of the first mark is what the JWK Set publishes: a second run keeps it.
    const [remarked] = await t.sql<{ compromised_at: Date }[]>`
      SELECT compromised_at FROM issuer_keys WHERE kid = ${leaked.kid}`;
    expect(remarked?.compromised_at).toEqual(marked?.compromised_at);

    await expect(
      compromiseIssuerKey(
        { sql: t.sql, log, keys: keysOf(t.sql) },
        { kid: 'no-such-key', actor: 'incident-42' },
      ),
    ).rejects.toBeInstanceOf(NotFoundError);
    // Who acted goes into two audit rows per certificate: held to the staff actions' 1-200 characters.
    await expect(
      compromiseIssuerKey(
        { sql: t.sql, log, keys: keysOf(t.sql) },
        { kid: leaked.kid, actor: 'x'.repeat(201) },
      ),
    ).rejects.toBeInstanceOf(ValidationError);
  });

  it('the RS256 credentials key reported compromised: every certificate whose PDF carries an Open Badges credential it signed is replaced; the facts key stays trusted', async () => {
    const factsKey = await newKey();
    const leaked = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    const rotated = await signingKeyFromJwk(await generateSigningJwk('RS256'), 'RS256');
    // A generate container as deployed: the facts key and the credentials key, each from its secret.
    const containerWithBoth = (credentialKey: SigningKey) =>
      generateSigners(t.sql, { facts: factsKey, credentials: credentialKey }, SETTINGS);
    const signedWithLeaked = [
      await issueWith(containerWithBoth(leaked)),
      await issueWith(containerWithBoth(leaked)),
    ];
    // Issued by a container without an Open Badges issuer: nothing in it is the RS256 key's.
    const earlier = await issueWith(containerWith(factsKey));
    const recorded = await t.sql<{ id: string; credential_kid: string; open_badge_kid: string | null }[]>`
      SELECT id, credential_kid, open_badge_kid FROM certificates WHERE id = ANY(${[...signedWithLeaked, earlier]}::uuid[])`;
    expect(
      new Map(recorded.map((entry) => [entry.id, [entry.credential_kid, entry.open_badge_kid]])),
    ).toEqual(
      new Map([
        [signedWithLeaked[0], [factsKey.kid, leaked.kid]],
        [signedWithLeaked[1], [factsKey.kid, leaked.kid]],
        [earlier, [factsKey.kid, null]],
      ]),
    );
    // The rotation of the credentials key alone: the facts key stays current.
    const withRotated = containerWithBoth(rotated);
    await issueWith(withRotated);
    expect(await keyState(t.sql, leaked.kid)).toBe('retired');
    expect(await keyState(t.sql, factsKey.kid)).toBe('current');

    const report = await compromiseIssuerKey(
      { sql: t.sql, log, keys: keysOf(t.sql) },
      { kid: leaked.kid, actor: 'incident-44' },
    );
    expect(report).toMatchObject({ previousState: 'retired', replacementsQueued: 2, alreadyReplacing: 0 });
    expect(await keyState(t.sql, factsKey.kid)).toBe('current');
    expect(await replacementOf(earlier)).toBeUndefined();
    for (const original of signedWithLeaked) {
      const replacement = (await replacementOf(original)) ?? '';
      const outcome = await generateCertificate(
        makeGenerateDeps(t, renderer, withRotated),
        options,
        replacement,
      );
      expect(outcome.status).toBe('issued');
      const [issued] = await t.sql<{ open_badge_kid: string }[]>`
        SELECT open_badge_kid FROM certificates WHERE id = ${replacement}`;
      expect(issued?.open_badge_kid).toBe(rotated.kid);
      expect(await row(original)).toMatchObject({ status: 'superseded', superseded_by: replacement });
    }
  });

  it('a render that signed with the key before the mark and is issued after it is waited for, then replaced; one whose lease had run out is left to the scan', async () => {
    const leaked = await newKey();
    const withLeaked = containerWith(leaked);
    const inFlight = await issueWith(withLeaked);
    const stalled = await issueWith(withLeaked);
    // Both back in 'rendering', as when their workers had signed but not yet committed: one
    // with its lease running, one whose lease ran out (its worker is gone: a timeout kills it).
    await t.sql`UPDATE certificates SET status = 'rendering', lease_owner = 'worker-1',
      lease_expires_at = now() + interval '1 hour' WHERE id = ${inFlight}`;
    await t.sql`UPDATE certificates SET status = 'rendering', lease_owner = 'worker-2',
      lease_expires_at = now() - interval '1 minute' WHERE id = ${stalled}`;
    await rotate();

    const waits: string[] = [];
    const report = await compromiseIssuerKey(
      {
        sql: t.sql,
        log,
        keys: keysOf(t.sql),
        onWait: (renders) => waits.push(`waiting for ${renders}`),
        // The worker commits while the command waits: its certificate is issued, signed with the key.
        sleep: async () => {
          waits.push('slept');
          await t.sql`UPDATE certificates SET status = 'issued', lease_owner = NULL, lease_expires_at = NULL
            WHERE id = ${inFlight}`;
        },
      },
      { kid: leaked.kid, actor: 'incident-43' },
    );
    expect(waits).toEqual(['waiting for 1', 'slept']);
    expect(report).toMatchObject({ rendersWaitedFor: 1, replacementsQueued: 1 });
    expect(await replacementOf(inFlight)).toBeDefined();
    expect(await replacementOf(stalled)).toBeUndefined();
  });

  it('npm run compromise-key: usage errors touch nothing; --dry-run counts; --yes marks and queues', async () => {
    const leaked = await newKey();
    const issued = await issueWith(containerWith(leaked));
    await rotate();
    const run = (...args: string[]) => runScript('compromise-key', args, t.env);

    const noActor = await run('--kid', leaked.kid, '--yes');
    expect(noActor.code).toBe(2);
    expect(noActor.stderr).toContain('--actor');
    const badKid = await run('--kid', 'not a kid', '--actor', 'incident-44', '--yes');
    expect(badKid.code).toBe(2);
    expect(badKid.stderr).toContain('--kid must be a key id');
    const refused = await run('--kid', leaked.kid, '--actor', 'incident-44');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');
    const unknown = await run(
      '--kid',
      'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      '--actor',
      'incident-44',
      '--yes',
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('it has signed nothing here');
    expect(await keyState(t.sql, leaked.kid)).toBe('retired');

    const preview = await run('--kid', leaked.kid, '--actor', 'incident-44', '--dry-run');
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain('dry run, nothing was changed');
    // The key's URL, as the JWK Set lists the credentials key first, names the same key.
    const byUrl = await run(
      '--kid',
      `https://certs.example.org/api/v1/keys/${leaked.kid}`,
      '--actor',
      'incident-44',
      '--dry-run',
    );
    expect(byUrl.code, byUrl.stderr).toBe(0);
    expect(byUrl.stdout).toContain(`Key ${leaked.kid} (now retired): dry run, nothing was changed.`);
    expect(preview.stdout).toContain('replacements that would be queued: 1');
    expect(await keyState(t.sql, leaked.kid)).toBe('retired');

    const done = await run('--kid', leaked.kid, '--actor', 'incident-44', '--yes');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain(`Key ${leaked.kid} is marked compromised (it was retired).`);
    expect(done.stdout).toContain('replacements that were queued: 1');
    expect(await keyState(t.sql, leaked.kid)).toBe('compromised');
    expect(await replacementOf(issued)).toBeDefined();

    // The key signing now (a kid pasted from the wrong line of the JWK Set): refused unless said.
    const current = await newKey();
    await rotate(current);
    expect(await keyState(t.sql, current.kid)).toBe('current');
    const currentPreview = await run('--kid', current.kid, '--actor', 'incident-45', '--dry-run');
    expect(currentPreview.code, currentPreview.stderr).toBe(0);
    expect(currentPreview.stdout).toContain('It is the current signing key');
    const refusedCurrent = await run('--kid', current.kid, '--actor', 'incident-45', '--yes');
    expect(refusedCurrent.code).toBe(1);
    expect(refusedCurrent.stderr).toContain(`key ${current.kid} is the current signing key`);
    expect(refusedCurrent.stderr).toContain('--current');
    expect(await keyState(t.sql, current.kid)).toBe('current');
    // Said: the leak was found before a new key could be put in place.
    const marked = await run('--kid', current.kid, '--actor', 'incident-45', '--yes', '--current');
    expect(marked.code, marked.stderr).toBe(0);
    expect(marked.stdout).toContain('It was the current key');
    expect(await keyState(t.sql, current.kid)).toBe('compromised');
  });
});
