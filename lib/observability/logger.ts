import { Logger, LogLevel } from '@aws-lambda-powertools/logger';

/**
 * One structured JSON logger per container (Powertools). Messages keep the wording of the
 * original integration guide so existing log queries keep working. Never pass a whole event
 * or a header map to it: tokens must not reach the logs.
 */
const levels: readonly string[] = Object.values(LogLevel);
const requested = (process.env.LOG_LEVEL ?? 'INFO').trim().toUpperCase();
const level = Object.values(LogLevel).find((known) => known === requested);

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'course-certificates',
  logLevel: level ?? LogLevel.INFO,
});

// Powertools would take an unknown level silently as INFO. The logger exists before any
// configuration is parsed (everything logs through it), so a bad value is not fatal: it is said
// once, naming the variable, and INFO is used.
if (level === undefined)
  logger.warn(`LOG_LEVEL must be one of ${levels.join(', ')}; logging at INFO`, {
    LOG_LEVEL: requested.slice(0, 40),
  });
