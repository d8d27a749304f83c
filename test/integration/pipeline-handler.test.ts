import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { logger } from '../../lib/observability/logger.ts';
import { applyEnv, createTestEnv, type TestEnv } from '../support/env.ts';
import { keycloakControl } from '../support/keycloak.ts';
import { certificateRow, createCourse, createPendingCertificate, makeDue } from './pipeline-fixtures.ts';

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

  it('keeps one warm browser, relaunches it after it was killed mid-render, and issues', async () => {
    const keycloak = keycloakControl(t.keycloakUrl);
    const courseId = await createCourse(t.sql, { title: 'Resilience' });
    const first = await keycloak.addUser({ firstName: 'Warm', lastName: 'Start' });
    const warm = await createPendingCertificate(t.sql, { studentId: first.id, courseId });
    expect(await generate.handler({ certificateId: warm })).toMatchObject({ status: 'issued' });
    const pid = browserPid();
    expect(pid).toBeTypeOf('number');

    const second = await keycloak.addUser({ firstName: 'Killed', lastName: 'Browser' });
    const id = await createPendingCertificate(t.sql, {
      studentId: second.id,
      courseId: await createCourse(t.sql),
    });
    const running = generate.handler({ certificateId: id });
    process.kill(pid as number, 'SIGKILL');
    let outcome = await running;
    if (outcome.status === 'failed') {
      expect((await certificateRow(t.sql, id)).last_error).toMatch(/browser|Target closed|Protocol error/i);
      await makeDue(t.sql, id);
      outcome = await generate.handler({ certificateId: id });
    }
    expect(outcome).toMatchObject({ status: 'issued' });
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
