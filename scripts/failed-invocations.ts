import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { releaseDropped } from '../lib/certificates/budget.ts';
import { loadConfig } from '../lib/config.ts';
import { createSql } from '../lib/db/client.ts';
import { parseFailedInvocation } from '../lib/invoke/failure-queue.ts';

// `npm run failed-invocations [-- --requeue]`: lists the generate invocations Lambda gave up on
// (the on-failure queue, see serverless.yml) and, with --requeue, hands their certificates back
// to the scan at once and deletes the messages. Without --requeue nothing changes: messages
// become visible again after 30 s. Needs GENERATE_FAILURE_QUEUE_URL (the stack output
// GenerateFailureQueueUrl), AWS credentials, and for --requeue DATABASE_URL (+ DATABASE_SECRET_ARN).

const settings = z
  .object({
    GENERATE_FAILURE_QUEUE_URL: z.url({ error: 'is required (stack output GenerateFailureQueueUrl)' }),
    AWS_REGION: z.string().min(1).default('us-east-1'),
  })
  .safeParse(process.env);
if (!settings.success) {
  console.error(`Invalid configuration: GENERATE_FAILURE_QUEUE_URL ${settings.error.issues[0]?.message}`);
  process.exit(2);
}
const { GENERATE_FAILURE_QUEUE_URL: queueUrl, AWS_REGION: region } = settings.data;
const requeue = process.argv.includes('--requeue');
const sqs = new SQSClient({ region });
const sql = requeue
  ? createSql(loadConfig(['db']).db, { applicationName: 'certificates-failed-invocations' })
  : undefined;

let seen = 0;
try {
  for (;;) {
    const { Messages: messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 30,
      }),
    );
    if (messages.length === 0) break;
    for (const message of messages) {
      seen += 1;
      const failed = parseFailedInvocation(message.Body ?? '');
      if (!failed) {
        console.log(`${message.MessageId}: not a generate failure record, left in the queue`);
        continue;
      }
      const line = `${failed.certificateId}  ${failed.condition}  ${failed.timestamp ?? ''}  ${failed.error ?? ''}`;
      if (!sql) {
        console.log(line);
        continue;
      }
      const status = await releaseDropped(sql, failed.certificateId);
      const outcome =
        status === undefined
          ? 'no such certificate'
          : status === 'pending' || status === 'failed'
            ? `${status}, released to the scan`
            : `${status}, nothing to do`;
      console.log(`${line}  -> ${outcome}`);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    }
  }
  console.log(
    seen === 0 ? 'The failure queue is empty.' : `${seen} message(s)${requeue ? ' handled' : ' listed'}.`,
  );
} finally {
  await sql?.end({ timeout: 5 });
  sqs.destroy();
}
