import { z } from 'zod';
import { skipped, type CheckResult } from '../domain/checks.js';
import { innermostMessage } from '../domain/failures.js';
import type { RunReport } from '../domain/run.js';
import { apiCall, quickRead } from './lib/activity-profiles.js';
import { reportedWorkflow } from './lib/run.js';

const { clearApplicationCache } = apiCall;
const { resolveCacheClearTargets } = quickRead;

export const ApplicationCacheCleanupInput = z.object({}).strict();
export type ApplicationCacheCleanupInput = z.input<typeof ApplicationCacheCleanupInput>;

const reportedRun = reportedWorkflow('applicationCacheCleanup', ApplicationCacheCleanupInput);

/**
 * Maintenance Setup Guide, "Cache Cleanup" (app-cache-cleanup, every 6 hours): each configured
 * endpoint asked to clear the application cache. A run where every endpoint answered posts nothing
 * to Slack (four a day would be noise); a failure is posted and alerted.
 */
export async function applicationCacheCleanup(rawInput?: ApplicationCacheCleanupInput): Promise<RunReport> {
  return reportedRun(rawInput, async (run) => {
    const targets = await run.step('resolve cache endpoints', () => resolveCacheClearTargets());
    run.phase = 'clearing';
    const checks: CheckResult[] =
      targets.length === 0
        ? [skipped('cache-clear', '-', 'no cache endpoints configured (targets.cacheClear)')]
        : (
            await Promise.all(
              targets.map((t) =>
                run.checkStep(`clear ${t.name}`, async () => {
                  try {
                    return [await clearApplicationCache(t)];
                  } catch (err) {
                    return [
                      {
                        check: 'cache-clear',
                        target: t.name,
                        status: 'critical' as const,
                        threshold: 'answers 2xx',
                        detail: innermostMessage(err),
                      },
                    ];
                  }
                }),
              ),
            )
          ).flat();
    const cleared = checks.filter((c) => c.status === 'ok').length;
    return {
      summary:
        targets.length === 0
          ? 'Application cache cleanup: no endpoints configured'
          : `Application cache cleanup: ${cleared} of ${targets.length} endpoint(s) cleared`,
      checks,
      alertOnCritical: true,
      postOnlyProblems: true,
    };
  });
}
