/**
 * The AWS SDK clients' HTTP timeouts (S3, Lambda, Secrets Manager, SSM), set in one place. The
 * SDK's defaults wait without limit, or for minutes. `requestTimeout` runs from a request's start
 * to its answer's headers (the upload of its body included); it stops there, so `socketTimeout`
 * bounds the rest: an answer whose body stops half way (an error's XML, a throttling reply, a
 * download) would otherwise hang the call (aws/aws-sdk-js-v3#8098). Without
 * `throwOnRequestTimeout` this SDK version only logs a warning when the timeout passes, and
 * waits on.
 */
export function requestTimeouts(options: { answerMs: number; connectMs: number }) {
  return {
    requestTimeout: options.answerMs,
    socketTimeout: options.answerMs,
    connectionTimeout: options.connectMs,
    throwOnRequestTimeout: true,
  };
}
