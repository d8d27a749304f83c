import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { AnalyticsMetrics } from '../certificates/analytics.ts';
import type { PipelineMetrics } from '../certificates/ports.ts';

/**
 * CloudWatch Embedded Metric Format via Powertools: metrics are buffered during an invocation
 * and written as one EMF JSON line by `publishStoredMetrics()`, which the handler calls in
 * `finally`. Namespace and service come from POWERTOOLS_METRICS_NAMESPACE / POWERTOOLS_SERVICE_NAME.
 */
export const metrics = new Metrics({
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'CourseCertificates',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'course-certificates',
});

export const METRIC_NAMES = {
  generated: 'CertificatesGenerated',
  failed: 'CertificatesFailed',
  dead: 'CertificatesDead',
  duration: 'GenerationDuration',
  s3Errors: 'S3Errors',
  configurationErrors: 'ConfigurationErrors',
  certificateEvents: 'CertificateEvents',
} as const;

export function pipelineMetrics(target: Metrics = metrics): PipelineMetrics {
  return {
    certificateGenerated(durationMs) {
      target.addMetric(METRIC_NAMES.generated, MetricUnit.Count, 1);
      target.addMetric(METRIC_NAMES.duration, MetricUnit.Milliseconds, Math.round(durationMs));
    },
    certificateFailed() {
      target.addMetric(METRIC_NAMES.failed, MetricUnit.Count, 1);
    },
    s3Error() {
      target.addMetric(METRIC_NAMES.s3Errors, MetricUnit.Count, 1);
    },
    certificateDead() {
      // serverless.yml's CertificatesDeadAlarm watches this one: each is a student without a
      // certificate until a certificate admin requeues it.
      target.addMetric(METRIC_NAMES.dead, MetricUnit.Count, 1);
    },
    configurationError(dependency) {
      recordConfigurationError(dependency, target);
    },
  };
}

/**
 * A dependency refused us because of how we are set up (ConfigurationError): nothing issues, or a
 * route answers 503, until someone fixes IAM, the bucket or a secret. Per dependency, to say where
 * to look: a single metric, so its `dependency` dimension does not split the invocation's others.
 * And once more with the service dimension only, what serverless.yml's ConfigurationErrorsAlarm
 * watches: an alarm names exact dimensions, so on the per-dependency series it would need one per
 * dependency. Both written at once, not buffered, so they always agree whether or not the handler
 * flushes its buffer afterwards (the HTTP handlers have none).
 */
export function recordConfigurationError(dependency: string, target: Metrics = metrics): void {
  const byDependency = target.singleMetric();
  byDependency.addDimension('dependency', dependency);
  byDependency.addMetric(METRIC_NAMES.configurationErrors, MetricUnit.Count, 1);
  const total = target.singleMetric();
  total.addMetric(METRIC_NAMES.configurationErrors, MetricUnit.Count, 1);
}

/**
 * Analytics events (download links, verification views, credential exports) as one metric with
 * `kind` and `referrerKind` dimensions (3 x 5 series at most). A single metric is written at
 * once: the HTTP handlers do not flush a per-invocation buffer, and a dashboard should not
 * depend on the database insert having worked.
 */
export function analyticsMetrics(target: Metrics = metrics): AnalyticsMetrics {
  return {
    eventRecorded(kind, referrerKind) {
      const single = target.singleMetric();
      single.addDimensions({ kind, referrerKind });
      single.addMetric(METRIC_NAMES.certificateEvents, MetricUnit.Count, 1);
    },
  };
}

/** Writes buffered metrics, if any (an invocation that recorded none writes nothing, not a warning). */
export function flushMetrics(target: Metrics = metrics): void {
  if (target.hasStoredMetrics()) target.publishStoredMetrics();
}
