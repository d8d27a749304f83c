import { chromiumExecutable } from './chromium-binary.ts';

/**
 * Imported first by functions/generate.ts, for its side effect: on Lambda, what Chromium needs
 * in the empty /tmp is extracted (on libuv's thread pool) while the rest of the bundle loads
 * (~0.5 s of module init), instead of after it: the fonts and AL2023 libraries when the layer
 * ships Chromium unpacked, the whole binary (~1.6-3.6 s) when it ships only the archives.
 * Elsewhere (tests, serverless offline, scripts) importing it does nothing. A failure is not
 * reported here: the first launch tries again and reports it.
 */
if (process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined && process.env.IS_OFFLINE === undefined) {
  chromiumExecutable().catch(() => undefined);
}
