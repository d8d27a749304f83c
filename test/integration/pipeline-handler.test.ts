import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { logger } from '../../lib/observability/logger.ts';
import { waitUntilGone } from '../../scripts/process-tree.ts';
import { applyEnv, createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { certificateRow, createCourse, createPendingCertificate } from './pipeline-fixtures.ts';

/** The real generate handler, with its module-scope clients, against this file's database and bucket. */

let t: TestEnv;
let restoreEnv: () => void;
let generate: typeof import('../../functions/generate.ts');
let infoLog: MockInstance<typeof logger.info>;

/** The pid of the handler's current browser, as its 'Chromium launched' log line reports it. */
function browserPid(): unknown {
  const launches = infoLog.mock.calls.filter(([message]) => message === 'Chromium launched');
  return (launches.at(-1)?.[1] as { pid?: unknown } | undefined)?.pid;
}

beforeAll(async () => {
  t = await createTestEnv();
  restoreEnv = applyEnv({ ...t.env, POWERTOOLS_METRICS_DISABLED: 'true' });
  generate = await import('../../functions/generate.ts');
  infoLog = vi.spyOn(logger, 'info');
});
afterAll(async () => {
  infoLog?.mockRestore();
  await generate?.printer.close();
  await t.cleanup();
  restoreEnv();
});

describe('generate handler', () => {
  it('rejects a malformed event without throwing (an async retry could not fix it)', async () => {
    expect(await generate.handler({ certificateId: 'nope' })).toEqual({
      status: 'rejected',
      reason: 'invalid event',
    });
    expect(await generate.handler(undefined)).toMatchObject({ status: 'rejected' });
  });

  // A kill during a print is pinned down in pipeline-generate.test.ts (the browser frozen, then
  // killed, while the print is in flight); here, the handler's own module-scope printer.
  it('keeps one warm browser across invocations and relaunches one that died between them', async () => {
    const keycloak = keycloakControl(t.keycloakUrl);
    const courseId = await createCourse(t.sql, { title: 'Resilience' });
    const issue = async (firstName: string, lastName: string) => {
      const user = await keycloak.addUser({ firstName, lastName });
      const id = await createPendingCertificate(t.sql, { studentId: user.id, courseId });
      return { id, outcome: await generate.handler({ certificateId: id }) };
    };
    expect((await issue('Warm', 'Start')).outcome).toMatchObject({ status: 'issued' });
    const pid = browserPid();
    expect(pid).toBeTypeOf('number');
    const launches = () => infoLog.mock.calls.filter(([message]) => message === 'Chromium launched').length;
    const launched = launches();

    // Warm: the next invocation prints with the same browser.
    expect((await issue('Still', 'Warm')).outcome).toMatchObject({ status: 'issued' });
    expect(launches()).toBe(launched);
    expect(browserPid()).toBe(pid);

    process.kill(pid as number, 'SIGKILL');
    expect(await waitUntilGone([pid as number], 30_000)).toBe(true);
    const { id, outcome } = await issue('Killed', 'Browser');
    expect(outcome).toMatchObject({ status: 'issued' });
    expect(launches()).toBe(launched + 1);
    expect(browserPid()).toBeTypeOf('number');
    expect(browserPid()).not.toBe(pid);
    expect(await certificateRow(t.sql, id)).toMatchObject({
      status: 'issued',
      student_name: 'Killed Browser',
    });
  });

  it('answers an unknown certificate id quietly', async () => {
    expect(await generate.handler({ certificateId: randomUUID() })).toMatchObject({ status: 'skipped' });
  });
});
