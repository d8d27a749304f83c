import { vi } from 'vitest';

/**
 * What `work` wrote to stdout as CloudWatch Embedded Metric Format records (Powertools writes one
 * JSON object per line there), and its result or what it threw. stdout is restored afterwards.
 */
export async function captureEmf<T>(
  work: () => T | Promise<T>,
): Promise<{ outcome: PromiseSettledResult<Awaited<T>>; emf: Record<string, unknown>[] }> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  let outcome: PromiseSettledResult<Awaited<T>>;
  try {
    outcome = { status: 'fulfilled', value: await work() };
  } catch (reason) {
    outcome = { status: 'rejected', reason };
  } finally {
    spy.mockRestore();
  }
  const emf = lines
    .flatMap((line) => line.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { outcome, emf };
}
