import { readFileSync } from 'node:fs';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { flushMetrics, METRIC_NAMES, pipelineMetrics } from '../../lib/observability/metrics.ts';
import { captureEmf } from '../support/emf.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/** The EMF records written while `record` uses pipeline metrics on a fresh target, then flushes. */
async function emfOf(
  record: (metrics: ReturnType<typeof pipelineMetrics>) => void,
): Promise<Record<string, unknown>[]> {
  const target = new Metrics({ namespace: 'CourseCertificatesTest', serviceName: 'test' });
  const { emf } = await captureEmf(() => {
    record(pipelineMetrics(target));
    flushMetrics(target);
  });
  return emf;
}

describe('pipeline metrics', () => {
  it('counts a certificate given up on as CertificatesDead, the name CertificatesDeadAlarm watches', async () => {
    const [record] = (await emfOf((metrics) => metrics.certificateDead?.())) as (Record<string, unknown> & {
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

  it('writes CloudWatch Embedded Metric Format with the pipeline metric names', async () => {
    const emf = await emfOf((metrics) => {
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

  it('counts configuration errors in lines of their own: by dependency, and with the service dimension only for the alarm', async () => {
    const emf = (await emfOf((metrics) => {
      metrics.certificateFailed();
      metrics.configurationError?.('s3');
    })) as (Record<string, unknown> & {
      _aws: { CloudWatchMetrics: { Dimensions: string[][]; Metrics: { Name: string }[] }[] };
    })[];
    // The name as the README gives it: operators alarm on `ConfigurationErrors`.
    const configuration = emf.filter((record) => 'ConfigurationErrors' in record);
    for (const record of configuration) {
      expect(record).toMatchObject({ ConfigurationErrors: 1, service: 'test' });
      expect(record._aws.CloudWatchMetrics[0]?.Metrics.map((metric) => metric.Name)).toEqual([
        'ConfigurationErrors',
      ]);
    }
    // One series per dependency says where to look; the one with exactly [service] is what an
    // alarm can watch whatever the dependency (CloudWatch matches dimension sets exactly).
    expect(configuration.map((record) => record._aws.CloudWatchMetrics[0]?.Dimensions)).toEqual(
      expect.arrayContaining([[['service', 'dependency']], [['service']]]),
    );
    expect(configuration).toHaveLength(2);
    expect(configuration.find((record) => 'dependency' in record)).toMatchObject({ dependency: 's3' });
    // serverless.yml's alarm names the same metric and the service dimension only.
    const yml = readFileSync('serverless.yml', 'utf8');
    const alarm = yml.slice(
      yml.indexOf('ConfigurationErrorsAlarm:'),
      yml.indexOf('AlarmActions', yml.indexOf('ConfigurationErrorsAlarm:')),
    );
    expect(alarm).toContain('MetricName: ConfigurationErrors');
    expect(alarm).toContain('Name: service');
    expect(alarm).not.toContain('Name: dependency');
    const failed = emf.find((record) => METRIC_NAMES.failed in record);
    expect(failed).toBeDefined();
    // The other metrics keep their dimensions: no `dependency` split, and no configuration count
    // in the invocation's buffer (it is written at once, above).
    expect(failed).not.toHaveProperty('dependency');
    expect(failed).not.toHaveProperty('ConfigurationErrors');
  });

  it('writes nothing when an invocation recorded no metric', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    flushMetrics(new Metrics({ namespace: 'CourseCertificatesTest', serviceName: 'test' }));
    expect(write).not.toHaveBeenCalled();
  });
});

describe('metric names in the README', () => {
  it('documents every metric the functions write, by the name they write it under', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const undocumented = Object.values(METRIC_NAMES).filter((name) => !readme.includes(`\`${name}\``));
    expect(undocumented).toEqual([]);
  });
});
