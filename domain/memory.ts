// Shared between workflows (sandboxed) and activities: the seed's "Check for memory leaks" rules,
// pure data and functions only.
import type { CheckResult } from './checks.js';

/** Memory in use per deployment (MiB, summed over its pods), as one weekly review measured it. */
export type MemoryByDeployment = Record<string, number>;

/** What a container's status says about restarts: the count and its last termination. */
export interface ContainerRestarts {
  pod: string;
  container: string;
  restartCount: number;
  lastTermination?: { reason?: string; finishedAt?: string };
}

/**
 * One finding per container that restarted: OOMKilled is critical (the limit was reached: the
 * leak's end), more than `maxRestarts` restarts a warning; one `ok` for the namespace otherwise.
 */
export function restartFindings(containers: ContainerRestarts[], maxRestarts: number, scope: string): CheckResult[] {
  const threshold = `warn > ${maxRestarts} restarts, critical when OOMKilled`;
  const findings = containers.flatMap((c): CheckResult[] => {
    const oomKilled = c.lastTermination?.reason === 'OOMKilled';
    if (!oomKilled && c.restartCount <= maxRestarts) return [];
    const last = c.lastTermination
      ? `; last terminated ${c.lastTermination.reason ?? 'without reason'} at ${c.lastTermination.finishedAt ?? 'an unknown time'}`
      : '';
    return [
      {
        check: 'k8s.restarts',
        target: `${c.pod}/${c.container}`,
        status: oomKilled ? 'critical' : 'warn',
        value: c.restartCount,
        unit: 'restarts',
        threshold,
        detail: `${c.restartCount} restart(s)${last}`,
      },
    ];
  });
  if (findings.length > 0) return findings;
  const most = Math.max(0, ...containers.map((c) => c.restartCount));
  return [
    {
      check: 'k8s.restarts',
      target: scope,
      status: 'ok',
      value: most,
      unit: 'restarts',
      threshold,
      detail: `${containers.length} container(s), at most ${most} restart(s), none OOMKilled`,
    },
  ];
}

/**
 * A leak shows as usage creeping up run after run. Per deployment measured now: over the last
 * `runs` figures (stored weekly runs, newest first, then this one) each higher than the one before
 * and the last more than `tolerance` (0.2 = 20 %) above the first, it warns "memory creeping".
 */
export function memoryTrendFindings(
  current: MemoryByDeployment,
  previous: MemoryByDeployment[],
  { runs, tolerance }: { runs: number; tolerance: number },
): CheckResult[] {
  const threshold = `warn when each of ${runs} runs is higher than the one before and the growth > ${Math.round(tolerance * 100)}%`;
  return Object.entries(current).map(([deployment, now]): CheckResult => {
    // Consecutive runs only: a run that did not measure this deployment ends its series.
    const earlier: number[] = [];
    for (const run of previous.slice(0, runs - 1)) {
      const figure = run[deployment];
      if (typeof figure !== 'number') break;
      earlier.unshift(figure);
    }
    const series = [...earlier, now];
    const figures = `${series.join(', ')} MiB`;
    if (series.length < runs)
      return {
        check: 'k8s.memory-trend',
        target: deployment,
        status: 'skipped',
        value: now,
        unit: 'MiB',
        detail: `${series.length} of ${runs} runs measured (${figures}): too few for a trend`,
      };
    const first = series[0]!;
    const growth = first > 0 ? (now - first) / first : 0;
    const rising = series.every((v, i) => i === 0 || v > series[i - 1]!);
    return {
      check: 'k8s.memory-trend',
      target: deployment,
      status: rising && growth > tolerance ? 'warn' : 'ok',
      value: now,
      unit: 'MiB',
      threshold,
      detail: `${rising && growth > tolerance ? 'memory creeping' : 'no steady growth'}: ${figures} (${growth >= 0 ? '+' : ''}${Math.round(growth * 100)}% over ${runs} runs)`,
    };
  });
}
