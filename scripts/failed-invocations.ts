import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { releaseDropped } from '../lib/certificates/budget.ts';
import { ConfigError, loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { parseFailedInvocation } from '../lib/invoke/failure-queue.ts';
import { requestTimeouts } from '../lib/request-timeouts.ts';
import { cliArgs } from './cli-args.ts';

// `npm run failed-invocations [-- --requeue]`: lists the generate invocations Lambda gave up on
// (the on-failure queue, see serverless.yml) and, with --requeue, hands their certificates back
// to the scan at once and deletes the messages. Without --requeue nothing changes. Messages are
// received hidden for 15 minutes, so each is seen once however long the queue, and those not
// deleted are made visible again when it ends (or within 15 minutes if it is killed). Needs
// GENERATE_FAILURE_QUEUE_URL (the stack output GenerateFailureQueueUrl), AWS credentials, and
// for --requeue DATABASE_URL (+ DATABASE_SECRET_ARN).

const { values: args } = cliArgs(
  'usage: npm run failed-invocations [-- --requeue]   (needs GENERATE_FAILURE_QUEUE_URL; --requeue also DATABASE_URL)',
  { requeue: { type: 'boolean', default: false } },
);
const STACK_OUTPUT = '(the stack output GenerateFailureQueueUrl)';
const isHttpUrl = (value: string): boolean => {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
};
const settings = z
  .object({
    GENERATE_FAILURE_QUEUE_URL: z
      .string({ error: `is required ${STACK_OUTPUT}` })
      .refine(isHttpUrl, `must be an http(s) URL ${STACK_OUTPUT}`),
    // What the SDK accepts as a region (one host label): anything else would fail later, inside
    // the SDK, as an error that does not name the variable.
    AWS_REGION: z
      .string()
      .regex(
        /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/,
        "must be an AWS region name such as eu-west-1 (the stack's region)",
      )
      .default('us-east-1'),
  })
  // Empty counts as unset, as in lib/config.ts: `AWS_REGION=` in a .env file means the default.
  .safeParse(Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== '')));
if (!settings.success) {
  // Thrown for cliArgs' handler: one line naming each variable at fault, exit 1, as for every
  // script's configuration errors.
  throw new ConfigError(
    settings.error.issues.map((issue) => ({
      variable: String(issue.path[0] ?? 'the configuration'),
      message: issue.message,
    })),
  );
}
const { GENERATE_FAILURE_QUEUE_URL: queueUrl, AWS_REGION: region } = settings.data;
const requeue = args.requeue === true;
// Without timeouts the SDK waits for ever on an endpoint that accepts and never answers (a proxy
// or tunnel with nothing behind it). A healthy answer comes within the 1 s long poll; 10 s
// covers a slow network, and the SDK's three attempts bound a silent endpoint to about 30 s.
const sqs = new SQSClient({
  region,
  maxAttempts: 3,
  requestHandler: requestTimeouts({ answerMs: 10_000, connectMs: 5_000 }),
});
const sql = requeue
  ? createSql(loadConfig(['db']).db, { applicationName: 'certificates-failed-invocations' })
  : undefined;
// The stage's dispatch lease (DISPATCH_LEASE_SECONDS, default 300 s): a lease ending later than a
// dropped invocation's could is a newer dispatch's, left alone. Give the stage's value.
const dispatchLeaseSeconds = requeue ? loadConfig(['pipeline']).pipeline.DISPATCH_LEASE_SECONDS : 0;

const VISIBILITY_SECONDS = 900;
let seen = 0;
// Of those, messages that are not generate failure records (left in the queue).
let foreign = 0;
// A message comes back once its visibility timeout passes: meeting one again (a listing longer
// than 15 minutes) means the queue has gone round, and the command stops there.
const ids = new Set<string>();
let around = false;
// Messages received and not deleted: visible again at the end, for the next run or operator.
const kept: string[] = [];
try {
  while (!around) {
    const { Messages: messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: VISIBILITY_SECONDS,
      }),
    );
    if (messages.length === 0) break;
    for (const message of messages) {
      const id = message.MessageId ?? '';
      if (ids.has(id)) {
        around = true;
        continue;
      }
      ids.add(id);
      seen += 1;
      const failed = parseFailedInvocation(message.Body ?? '');
      if (!failed) {
        foreign += 1;
        console.log(`${message.MessageId}: not a generate failure record, left in the queue`);
        if (message.ReceiptHandle) kept.push(message.ReceiptHandle);
        continue;
      }
      const line = `${failed.certificateId}  ${failed.condition}  ${failed.timestamp ?? ''}  ${failed.error ?? ''}`;
      if (!sql) {
        console.log(line);
        if (message.ReceiptHandle) kept.push(message.ReceiptHandle);
        continue;
      }
      const found = await releaseDropped(
        sql,
        failed.certificateId,
        failed.dispatchedBy
          ? { at: new Date(failed.dispatchedBy), leaseSeconds: dispatchLeaseSeconds }
          : undefined,
      );
      const outcome =
        found === undefined
          ? 'no such certificate'
          : found.released
            ? `${found.status}, released to the scan`
            : found.status === 'pending' || found.status === 'failed'
              ? `${found.status}, dispatched again since it was dropped: left to that dispatch`
              : `${found.status}, nothing to do`;
      console.log(`${line}  -> ${outcome}`);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    }
  }
  // What --requeue handled and what it left are told apart: a foreign message stays in the queue.
  console.log(
    seen === 0
      ? 'The failure queue is empty.'
      : requeue
        ? `${seen - foreign} message(s) handled${foreign > 0 ? `, ${foreign} left in the queue (not generate failure records)` : ''}.`
        : `${seen} message(s) listed.`,
  );
} finally {
  for (let at = 0; at < kept.length; at += 10) {
    const entries = kept.slice(at, at + 10).map((handle, index) => ({
      Id: String(index),
      ReceiptHandle: handle,
      VisibilityTimeout: 0,
    }));
    await sqs
      .send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: entries }))
      .catch((error: unknown) => console.error(`Could not make messages visible again: ${String(error)}`));
  }
  await sql?.end({ timeout: 5 });
  sqs.destroy();
}
