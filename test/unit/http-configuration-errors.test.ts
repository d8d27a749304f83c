import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/config.ts';
import { ConfigurationError, TransientError } from '../../lib/errors.ts';
import { lazyHandler, publicRoute } from '../../lib/http/route.ts';
import { logger } from '../../lib/observability/logger.ts';
import { apiEvent, lambdaContext } from '../e2e/http-fixtures.ts';
import { captureEmf } from '../support/emf.ts';

// serverless.yml's ConfigurationErrorsAlarm watches ConfigurationErrors with the service
// dimension only. A route refused by IAM (invoking generate), a secret or the signing key answers
// 503 to every caller until someone fixes it: the alarm must hear of it from the routes too, not
// only once generate or the scan meet the same fault.

beforeAll(() => {
  logger.setLogLevel('SILENT');
});

const failing = (error: Error) =>
  publicRoute({ corsOrigins: [] }, async () => {
    throw error;
  });

/** The route's answer and the EMF records it wrote. */
async function call(error: Error) {
  const { outcome, emf } = await captureEmf(() =>
    failing(error)(apiEvent('GET', '/api/v1/anything'), lambdaContext()),
  );
  if (outcome.status === 'rejected') throw outcome.reason;
  return { response: outcome.value, emf };
}

describe('a configuration error in a route', () => {
  it('answers 503 and counts it once per dependency and once for the alarm', async () => {
    const { response, emf } = await call(new ConfigurationError('AccessDeniedException', 'lambda'));
    expect(response.statusCode).toBe(503);
    expect(response.body).not.toContain('AccessDeniedException');
    expect(emf.filter((record) => record.ConfigurationErrors === 1)).toEqual([
      expect.objectContaining({ dependency: 'lambda' }),
      expect.not.objectContaining({ dependency: expect.anything() }),
    ]);
  });

  it('a handler whose configuration does not parse answers 500 and is counted for the alarm, each time', async () => {
    const handler = lazyHandler(() => {
      throw new ConfigError([{ variable: 'VERIFY_BASE_URL', message: 'is required' }]);
    });
    for (let i = 0; i < 2; i += 1) {
      const { outcome, emf } = await captureEmf(() =>
        handler(apiEvent('GET', '/api/v1/anything'), lambdaContext()),
      );
      expect(outcome).toMatchObject({ status: 'fulfilled', value: { statusCode: 500 } });
      expect(JSON.stringify(outcome)).not.toContain('VERIFY_BASE_URL');
      expect(emf.filter((record) => record.ConfigurationErrors === 1)).toEqual([
        expect.objectContaining({ dependency: 'configuration' }),
        expect.not.objectContaining({ dependency: expect.anything() }),
      ]);
    }
  });

  it('is not counted for a dependency that is only down for now', async () => {
    const { response, emf } = await call(new TransientError('connection refused', 'database'));
    expect(response.statusCode).toBe(503);
    expect(emf.filter((record) => 'ConfigurationErrors' in record)).toEqual([]);
  });
});
