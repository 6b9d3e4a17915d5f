import { describe, expect, it } from 'vitest';
import { memoryTrendFindings, restartFindings } from '../domain/memory.js';

const DEFAULTS = { runs: 3, tolerance: 0.2 };

describe('memory leak rules', () => {
  it('warns when memory rose run after run by more than the tolerance, naming the figures', () => {
    // Stored runs newest first: 260, then 210 the week before; 312 MiB now (+49 % over 3 runs).
    expect(
      memoryTrendFindings(
        { 'trixtech-backend': 312 },
        [{ 'trixtech-backend': 260 }, { 'trixtech-backend': 210 }],
        DEFAULTS,
      ),
    ).toEqual([
      expect.objectContaining({
        check: 'k8s.memory-trend',
        target: 'trixtech-backend',
        status: 'warn',
        value: 312,
        unit: 'MiB',
        detail: 'memory creeping: 210, 260, 312 MiB (+49% over 3 runs)',
      }),
    ]);
  });

  it('does not warn on growth within the tolerance, on a dip, or on history too short or broken', () => {
    const status = (current: number, previous: (number | undefined)[]) =>
      memoryTrendFindings(
        { api: current },
        previous.map((v): Record<string, number> => (v === undefined ? { other: 1 } : { api: v })),
        DEFAULTS,
      )[0]!.status;
    expect(status(240, [220, 210])).toBe('ok'); // rising, +14 %
    expect(status(312, [200, 260])).toBe('ok'); // +20 % overall, but a dip between
    expect(status(312, [260])).toBe('skipped'); // two runs of three
    expect(status(312, [260, undefined, 100])).toBe('skipped'); // a run that did not measure api ends the series
    expect(status(312, [260, 210, 100])).toBe('warn'); // older runs beyond the last three do not count
    expect(memoryTrendFindings({ api: 312 }, [{ api: 250 }], { runs: 2, tolerance: 0.2 })[0]!.status).toBe('warn');
  });

  it('OOMKilled is critical at any restart count, restarts past the threshold a warning, otherwise one ok', () => {
    const findings = restartFindings(
      [
        {
          pod: 'api-1',
          container: 'app',
          restartCount: 1,
          lastTermination: { reason: 'OOMKilled', finishedAt: '2026-11-29T03:04:05.000Z' },
        },
        { pod: 'api-2', container: 'app', restartCount: 4, lastTermination: { reason: 'Error' } },
        { pod: 'api-3', container: 'app', restartCount: 3 },
      ],
      3,
      'prod',
    );
    expect(findings.map((f) => [f.target, f.status, f.detail])).toEqual([
      ['api-1/app', 'critical', '1 restart(s); last terminated OOMKilled at 2026-11-29T03:04:05.000Z'],
      ['api-2/app', 'warn', '4 restart(s); last terminated Error at an unknown time'],
    ]);
    expect(restartFindings([{ pod: 'api-3', container: 'app', restartCount: 3 }], 3, 'prod')).toEqual([
      expect.objectContaining({ target: 'prod', status: 'ok', value: 3 }),
    ]);
  });
});
