import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { skipped, type CheckResult } from '../domain/checks.js';
import { isSkipped } from '../domain/cluster.js';
import { innermostMessage } from '../domain/failures.js';
import { nodeJobName, type NodeDiskFigure } from '../domain/node-jobs.js';
import type { RunReport } from '../domain/run.js';
import { localApiCall, nodeUpdateWait, quickRead } from './lib/activity-profiles.js';
import { duration, HOUR, MIN_POLL_MS, MINUTE, SECOND, seconds } from './lib/duration.js';
import { reportedWorkflow } from './lib/run.js';

const { surveyNodeDisks } = quickRead;
const { deleteNodeJob, startNodeJob } = localApiCall;
const { waitForNodeJob } = nodeUpdateWait;

export const NodeDiskCleanupInput = z
  .object({
    /** report: list the nodes over the threshold and the commands a cleanup runs there; clean: run them. */
    mode: z.enum(['report', 'clean']).default('report'),
    /** Root filesystem use above which a node is cleaned; default config `thresholds.diskWarnPercent` (80, the seed's). */
    thresholdPercent: z.number().min(1).max(100).optional(),
    /** Each node's cleanup Job may run this long (activeDeadlineSeconds). */
    timeout: duration(SECOND, 6 * HOUR).prefault('30 minutes'),
    pollInterval: duration(MIN_POLL_MS, MINUTE).prefault('5 seconds'),
  })
  .strict();
export type NodeDiskCleanupInput = z.input<typeof NodeDiskCleanupInput>;

const reportedRun = reportedWorkflow('nodeDiskCleanup', NodeDiskCleanupInput);

const figure = (n: NodeDiskFigure) =>
  n.usedPercent !== undefined ? `${n.usedPercent} % used` : n.diskPressure ? 'DiskPressure' : 'no DiskPressure';

/**
 * Maintenance Setup Guide, "Disk Cleanup" (`disk_cleanup.sh`, which cleans when `/` is over 80 %),
 * on every node: the nodes over the threshold (node-exporter through Prometheus, or the kubelet's
 * DiskPressure), then, in `clean` mode, the seed's cleanup as a Job on each of them, one node at a
 * time (config `nodeJobs.diskCleanup`: package cache, old kernels, unused images, old temporary
 * files and logs, the journal). Nothing is drained: none of it touches running containers. One
 * node failing does not stop the others; each Job is deleted once its log is in the report.
 */
export async function nodeDiskCleanup(rawInput?: NodeDiskCleanupInput): Promise<RunReport> {
  const workflowId = workflowInfo().workflowId;
  return reportedRun(rawInput, async (run, input) => {
    run.phase = 'measuring';
    const survey = await run.step('node disk usage', () =>
      surveyNodeDisks({ thresholdPercent: input.thresholdPercent }),
    );
    if (isSkipped(survey))
      return {
        summary: `Node disk cleanup skipped: ${survey.skipped}`,
        checks: [skipped('node.disk', 'nodes', survey.skipped)],
      };
    const threshold = `clean > ${survey.thresholdPercent} % or DiskPressure`;
    const over = survey.nodes.filter((n) => n.over);
    const checks: CheckResult[] = survey.nodes
      .filter((n) => !n.over)
      .map((n): CheckResult => ({
        check: 'node.disk',
        target: n.node,
        status: 'ok',
        threshold,
        detail: figure(n),
        ...value(n),
      }));
    const cleaned: { node: string; job: string; log: string[] }[] = [];

    if (input.mode === 'report') {
      checks.push(
        ...over.map((n) => ({
          check: 'node.disk',
          target: n.node,
          status: 'warn' as const,
          threshold,
          ...value(n),
          detail: `${n.over}: a clean run would run on it: ${survey.commands.join('; ')}`,
        })),
      );
    } else {
      run.phase = 'cleaning';
      for (const n of over) {
        const name = nodeJobName(workflowId, n.node, 'disk-cleanup');
        try {
          await run.step(`start the disk cleanup job on ${n.node}`, () =>
            startNodeJob({
              node: n.node,
              purpose: 'disk-cleanup',
              workflowId,
              deadlineSeconds: Math.ceil(seconds(input.timeout)),
            }),
          );
          run.waitingFor = `job ${name} on ${n.node}`;
          const done = await run.step(`disk cleanup job on ${n.node}`, () =>
            waitForNodeJob({
              name,
              node: n.node,
              timeoutSeconds: Math.ceil(seconds(input.timeout)) + 120,
              pollIntervalMs: input.pollInterval,
              expectMarker: false,
            }),
          );
          if (!isSkipped(done)) cleaned.push({ node: n.node, job: name, log: done.log });
          checks.push({
            check: 'node.disk',
            target: n.node,
            status: 'ok',
            threshold,
            ...value(n),
            detail: `${n.over}: cleaned by job ${name}`,
          });
        } catch (err) {
          checks.push({
            check: 'node.disk',
            target: n.node,
            status: 'critical',
            threshold,
            ...value(n),
            detail: `${n.over}: cleanup failed: ${innermostMessage(err)}`,
          });
        } finally {
          run.waitingFor = null;
          // A failed Job would linger until its TTL; a finished one has given its log to the report.
          // Also when the run is cancelled mid-job. A deletion that still fails after its retries is in
          // the step's record; the next node goes on.
          await CancellationScope.nonCancellable(() =>
            run.step(`delete job ${name}`, () => deleteNodeJob({ name })).catch(() => undefined),
          );
        }
      }
    }

    const names = over.map((n) => n.node).join(', ');
    return {
      summary:
        over.length === 0
          ? `Node disk cleanup: no node over ${survey.thresholdPercent} % or under DiskPressure (${survey.nodes.length} node(s))`
          : input.mode === 'report'
            ? `Node disk cleanup (report only): ${over.length} of ${survey.nodes.length} node(s) would be cleaned: ${names}`
            : `Node disk cleanup: ${cleaned.length} of ${over.length} node(s) cleaned: ${names}`,
      checks,
      alertOnCritical: true,
      postOnlyProblems: true,
      details: {
        mode: input.mode,
        thresholdPercent: survey.thresholdPercent,
        source: survey.source,
        image: survey.image,
        commands: survey.commands,
        nodes: survey.nodes,
        cleaned,
      },
    };
  });
}

const value = (n: NodeDiskFigure) => (n.usedPercent !== undefined ? { value: n.usedPercent, unit: '%' } : {});
