import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakePdf, insertCertificate, putPdf } from '../e2e/http-fixtures.ts';
import { createTestEnv, type TestEnv } from '../support/env.ts';
import { runScript } from '../support/run-script.ts';
import { createCourse, createPendingCertificate, listKeys } from './pipeline-fixtures.ts';

/** `npm run erase-student` as an operator runs it, on this file's database and bucket. */

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv();
});
afterAll(async () => {
  await t.cleanup();
});

const erase = (...args: string[]) =>
  runScript('erase-student', args, {
    ...t.env,
    // The SDK signs even for s3rver, which takes any key.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  });

async function status(certificateId: string): Promise<string | undefined> {
  const [row] = await t.sql<
    { status: string }[]
  >`SELECT status::text FROM certificates WHERE id = ${certificateId}`;
  return row?.status;
}

describe('npm run erase-student', () => {
  it('--help prints the usage; a wrong or missing argument is a usage error that touches nothing', async () => {
    const help = await erase('--help');
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('usage: npm run erase-student');
    const unknown = await erase('--frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--frobnicate'");
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
    const noActor = await erase('--student', randomUUID(), '--dry-run');
    expect(noActor.code).toBe(2);
    expect(noActor.stderr).toContain('--actor');
    const notUuid = await erase('--student', 'ada', '--actor', 'erasure-1', '--dry-run');
    expect(notUuid.code).toBe(2);
    expect(notUuid.stderr).toContain('--student must be a UUID');
  });

  it('refuses without --yes, previews with --dry-run, erases with --yes, and finds nothing the second time', async () => {
    const student = randomUUID();
    const other = randomUUID();
    const issued = await insertCertificate(t.sql, { studentId: student, studentName: 'Erika Mustermann' });
    await putPdf(t, issued, fakePdf());
    const pending = await createPendingCertificate(t.sql, {
      studentId: student,
      courseId: await createCourse(t.sql),
    });
    const theirs = await insertCertificate(t.sql, {
      studentId: other,
      courseId: issued.courseId,
      studentName: 'Ada Lovelace',
    });
    await putPdf(t, theirs, fakePdf());
    const args = ['--student', student, '--actor', 'erasure-TICKET-7'];

    const refused = await erase(...args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Not erasing');
    expect(refused.stderr).toContain('--yes');
    expect(await status(issued.id)).toBe('issued');

    const preview = await erase(...args, '--dry-run');
    expect(preview.code, preview.stderr).toBe(0);
    expect(preview.stdout).toContain('Database (dry run: rolled back, nothing was changed):');
    expect(preview.stdout).toContain('certificates revoked (requested-by-holder): 1');
    expect(preview.stdout).toContain('certificates deleted (never issued): 1');
    expect(preview.stdout).toContain(`certificates/${issued.courseId}/${student}/`);
    expect(preview.stdout).toMatch(/S3: 1 object version\(s\) and 0 delete marker\(s\) would be deleted/);
    expect(await status(issued.id)).toBe('issued');
    expect(await status(pending)).toBe('pending');
    expect(await listKeys(t)).toContain(issued.s3Key);

    const done = await erase(...args, '--yes');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('Database (committed):');
    expect(done.stdout).toContain('certificates revoked (requested-by-holder): 1');
    expect(done.stdout).toContain(
      'kept as tombstones (code, course, dates, status; no name, score, file or student id): 1',
    );
    expect(done.stdout).toMatch(/S3: 1 object version\(s\) and 0 delete marker\(s\) deleted/);
    // s3rver has no versioning API: the operator is told only current objects were seen.
    expect(done.stdout).toContain('This server has no versioning API');
    // The operator's next step: the student's lines in CloudWatch Logs.
    expect(done.stdout).toContain(
      `aws logs filter-log-events --log-group-name "$g" --filter-pattern '"${student}"'`,
    );
    expect(await status(issued.id)).toBe('revoked');
    expect(await status(pending)).toBeUndefined();
    const [named] = await t.sql<{ n: number }[]>`
      SELECT ((SELECT count(*) FROM certificates WHERE student_id = ${student})
            + (SELECT count(*) FROM test_attempts WHERE student_id = ${student}))::int AS n`;
    expect(named?.n).toBe(0);
    const keys = await listKeys(t);
    expect(keys).not.toContain(issued.s3Key);
    expect(keys).toContain(theirs.s3Key);
    expect(await status(theirs.id)).toBe('issued');

    const again = await erase(...args, '--yes');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('certificates revoked (requested-by-holder): 0');
    expect(again.stdout).toContain('none recorded');
    expect(again.stdout).toMatch(/S3: 0 object version\(s\) and 0 delete marker\(s\) deleted/);
  });
});
