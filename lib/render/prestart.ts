import { chromiumExecutable } from './chromium-binary.ts';

/**
 * Imported first by functions/generate.ts, for its side effect: on Lambda, Chromium's
 * extraction into the empty /tmp (~0.5-1 s, on libuv's thread pool) starts before the rest of
 * the bundle is even loaded (~0.7 s of module init), instead of after it. Elsewhere (tests,
 * serverless offline, scripts) importing it does nothing. A failure is not reported here: the
 * first launch extracts again and reports it.
 */
if (process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined && process.env.IS_OFFLINE === undefined) {
  chromiumExecutable().catch(() => undefined);
}
