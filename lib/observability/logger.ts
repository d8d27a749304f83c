import { Logger } from '@aws-lambda-powertools/logger';

/**
 * One structured JSON logger per container (Powertools). Messages keep the wording of the
 * original integration guide so existing log queries keep working. Never pass a whole event
 * or a header map to it: tokens must not reach the logs.
 */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'course-certificates',
  logLevel: (process.env.LOG_LEVEL ?? 'INFO').toUpperCase() as 'INFO',
});
