import type { Sql } from '../db/client.ts';
import { errorMessage } from '../errors.ts';
import { logger } from '../observability/logger.ts';

export interface HealthReport {
  status: 'ok' | 'unavailable';
  checks: { database: 'ok' | 'unavailable' };
}

/** `SELECT 1` with a deadline, so a hung database makes health fail fast instead of time out. */
export async function checkHealth(sql: Sql, timeoutMs = 3000): Promise<HealthReport> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`SELECT 1`,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'ok', checks: { database: 'ok' } };
  } catch (error) {
    logger.warn('Health check: database unavailable', { error: errorMessage(error) });
    return { status: 'unavailable', checks: { database: 'unavailable' } };
  } finally {
    clearTimeout(timer);
  }
}
