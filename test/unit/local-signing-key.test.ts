import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLocalSigningKey } from '../../lib/credentials/key-source.ts';
import { signingKeyFromJwk } from '../../lib/credentials/keys.ts';

// Both test workers (and two `npm start` at once) call ensureLocalSigningKey on the same path: one
// that read the file while another had created it but not yet written it got an empty file, and
// its whole test file failed in beforeAll ("Unexpected end of JSON input").

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'local-key-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ensureLocalSigningKey', () => {
  it('is never seen half-written by a reader while it creates the key', async () => {
    let partial = 0;
    for (let round = 0; round < 300; round += 1) {
      const path = join(dir, `race-${round}.json`);
      let done = false;
      const creating = ensureLocalSigningKey(path).finally(() => {
        done = true;
      });
      // Readers polling the path as a second process would: the file is absent, or whole.
      const readers = Array.from({ length: 3 }, async () => {
        while (!done) {
          const text = await readFile(path, 'utf8').catch(() => undefined);
          if (text !== undefined && !text.endsWith('}\n')) partial += 1;
        }
      });
      await Promise.all([creating, ...readers]);
    }
    expect(partial).toBe(0);
  });

  it('two callers at once keep one key, private to its owner, with nothing staged left behind', async () => {
    const path = join(dir, 'twice.json');
    expect(await Promise.all([ensureLocalSigningKey(path), ensureLocalSigningKey(path)])).toEqual([
      path,
      path,
    ]);
    const first = await readFile(path, 'utf8');
    await expect(signingKeyFromJwk(JSON.parse(first))).resolves.toBeDefined();
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    // Called again, it reuses the key: yesterday's certificates still verify.
    await ensureLocalSigningKey(path);
    expect(await readFile(path, 'utf8')).toBe(first);
    expect((await readdir(dir)).filter((name) => name.startsWith('twice'))).toEqual(['twice.json']);
  });

  it('never replaces a key another caller put there: every caller goes on with the key that stays', async () => {
    // Two `npm start`, or two test workers, signing with different keys would each issue
    // certificates the other's JWKS cannot verify.
    let differing = 0;
    for (let round = 0; round < 100; round += 1) {
      const path = join(dir, `kept-${round}.json`);
      const seen = await Promise.all(
        Array.from({ length: 4 }, async () => readFile(await ensureLocalSigningKey(path), 'utf8')),
      );
      const kept = await readFile(path, 'utf8');
      differing += seen.filter((text) => text !== kept).length;
    }
    expect(differing).toBe(0);
  });

  it("removes a staged key a killed process left behind, not one that may still be another's", async () => {
    const path = join(dir, 'leftovers.json');
    const stale = `${path}.4242.dead.tmp`;
    const recent = `${path}.4343.busy.tmp`;
    await writeFile(stale, '{"d":"private"}', { mode: 0o600 });
    await writeFile(recent, '{"d":"private"}', { mode: 0o600 });
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    await utimes(stale, twoMinutesAgo, twoMinutesAgo);
    await ensureLocalSigningKey(path);
    expect((await readdir(dir)).filter((name) => name.startsWith('leftovers')).sort()).toEqual([
      'leftovers.json',
      'leftovers.json.4343.busy.tmp',
    ]);
  });
});
