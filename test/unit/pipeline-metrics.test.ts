import { readFileSync } from 'node:fs';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { flushMetrics, METRIC_NAMES, pipelineMetrics } from '../../lib/observability/metrics.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/** The EMF records written while `record` uses pipeline metrics on a fresh target, then flushes. */
function emfOf(record: (metrics: ReturnType<typeof pipelineMetrics>) => void): Record<string, unknown>[] {
  const lines: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  const target = new Metrics({ namespace: 'CourseCertificatesTest', serviceName: 'test' });
  record(pipelineMetrics(target));
  flushMetrics(target);
  return lines
    .flatMap((line) => line.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('pipeline metrics', () => {
  it('counts a certificate given up on as CertificatesDead, the name CertificatesDeadAlarm watches', () => {
    const [record] = emfOf((metrics) => metrics.certificateDead?.()) as (Record<string, unknown> & {
      _aws: { CloudWatchMetrics: { Dimensions: string[][] }[] };
    })[];
    expect(record).toMatchObject({ CertificatesDead: 1, service: 'test' });
    // serverless.yml's alarm names the same metric, namespace and dimension.
    const yml = readFileSync('serverless.yml', 'utf8');
    const alarm = yml.slice(
      yml.indexOf('CertificatesDeadAlarm:'),
      yml.indexOf('AlarmActions', yml.indexOf('CertificatesDeadAlarm:')),
    );
    expect(alarm).toContain('MetricName: CertificatesDead');
    expect(alarm).toContain('Name: service');
    expect(record?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
  });

  it('writes CloudWatch Embedded Metric Format with the pipeline metric names', () => {
    const emf = emfOf((metrics) => {
      metrics.certificateGenerated(123.4);
      metrics.certificateFailed();
      metrics.s3Error();
    });
    expect(emf).toHaveLength(1);
    const record = emf[0] ?? {};
    const directive = record._aws as {
      CloudWatchMetrics: { Namespace: string; Metrics: { Name: string; Unit: string }[] }[];
    };
    const names = directive.CloudWatchMetrics[0];
    expect(names?.Namespace).toBe('CourseCertificatesTest');
    expect(names?.Metrics.map((metric) => metric.Name).sort()).toEqual(
      [METRIC_NAMES.duration, METRIC_NAMES.failed, METRIC_NAMES.generated, METRIC_NAMES.s3Errors].sort(),
    );
    expect(record).toMatchObject({
      [METRIC_NAMES.generated]: 1,
      [METRIC_NAMES.failed]: 1,
      [METRIC_NAMES.s3Errors]: 1,
      [METRIC_NAMES.duration]: 123,
    });
  });

  it('counts configuration errors in a line of their own, by dependency', () => {
    const emf = emfOf((metrics) => {
      metrics.certificateFailed();
      metrics.configurationError?.('s3');
    });
    // The name as the README gives it: operators alarm on `ConfigurationErrors`.
    const configuration = emf.find((record) => 'ConfigurationErrors' in record);
    expect(configuration).toMatchObject({ ConfigurationErrors: 1, dependency: 's3' });
    const directive = configuration?._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] };
    expect(directive.CloudWatchMetrics[0]?.Metrics.map((metric) => metric.Name)).toEqual([
      'ConfigurationErrors',
    ]);
    const failed = emf.find((record) => METRIC_NAMES.failed in record);
    expect(failed).toBeDefined();
    // The other metrics keep their dimensions: no `dependency` split.
    expect(failed).not.toHaveProperty('dependency');
  });

  it('writes nothing when an invocation recorded no metric', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    flushMetrics(new Metrics({ namespace: 'CourseCertificatesTest', serviceName: 'test' }));
    expect(write).not.toHaveBeenCalled();
  });
});
