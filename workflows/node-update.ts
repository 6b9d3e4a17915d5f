import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { isSkipped, type Skipped } from '../domain/cluster.js';
import { failure, FailureType } from '../domain/failures.js';
import { httpUrlSchema } from '../domain/http-target.js';
import { k8sObjectName } from '../domain/kubernetes-names.js';
import { nodeJobName, type NodeJobRef } from '../domain/node-jobs.js';
import type { RunReport } from '../domain/run.js';
import { localApiCall, nodeUpdateWait } from './lib/activity-profiles.js';
import { AlertAwareWork, AlertGateOptions, silenceBudget } from './lib/alert-gate.js';
import { nodeUpdatedSignal } from './lib/definitions.js';
import { DAY, duration, HOUR, MIN_POLL_MS, MINUTE, SECOND, seconds } from './lib/duration.js';
import { parseInput } from './lib/input.js';
import { MaintenanceRun } from './lib/run.js';
import { Compensations, runWithCompensations } from './lib/saga.js';

const { cordonNode, deleteNodeJob, requestNodeUpdate, startNodeJob, uncordonNode } = localApiCall;
const { drainNode, waitForNodeJob, waitForNodeReady } = nodeUpdateWait;

export const NodeUpdateOptions = z
  .object({
    drain: z
      .object({
        timeout: duration(SECOND, 6 * HOUR).prefault('15 minutes'),
        gracePeriodSeconds: z.number().int().min(0).max(3600).optional(),
        /** The seed drains with --delete-emptydir-data. */
        deleteEmptyDirData: z.boolean().default(true),
        evictUnmanagedPods: z.boolean().default(false),
        pollInterval: duration(MIN_POLL_MS, MINUTE).prefault('2 seconds'),
        evictionRetry: duration(MIN_POLL_MS, 5 * MINUTE).prefault('5 seconds'),
      })
      .strict()
      .prefault({}),
    update: z
      .object({
        /**
         * `hook`: someone else updates the drained node (the hook, people), then signals or reboots it.
         * `job`: this run updates it with a Job on the node (config `nodeJobs`), and reboots it when
         * the host asks for a reboot (/var/run/reboot-required).
         */
        method: z.enum(['hook', 'job']).default('hook'),
        /** POSTed `{node, runId}` once the node is drained, to start its update (method `hook`). */
        hookUrl: httpUrlSchema.optional(),
        /** `signal` (the default): wait for the `nodeUpdated` signal; `rebooted`: wait for the node to boot again (method `hook`). */
        doneWhen: z.enum(['signal', 'rebooted']).optional(),
        /** How long the update may take: the wait for the signal or reboot, or the Job's activeDeadlineSeconds. */
        timeout: duration(SECOND, 3 * DAY).prefault('2 hours'),
      })
      .strict()
      .refine((u) => u.method === 'hook' || (u.hookUrl === undefined && u.doneWhen === undefined), {
        message:
          'hookUrl and doneWhen belong to method "hook"; method "job" waits for its Job and the reboot it asks for',
      })
      .prefault({}),
    readyTimeout: duration(SECOND, 6 * HOUR).prefault('15 minutes'),
    pollInterval: duration(MIN_POLL_MS, MINUTE).prefault('5 seconds'),
    /** Before the cordon: wait for, or refuse over, blocking alerts (config `alerts`). */
    alerts: AlertGateOptions,
    reason: z.string().max(500).optional(),
  })
  .strict();

export const NodeUpdateInput = NodeUpdateOptions.extend({ node: k8sObjectName }).strict();
export type NodeUpdateInput = z.input<typeof NodeUpdateInput>;

/**
 * Seed "Kubernetes Node Updates": cordon, drain, wait for the update, wait until Ready, uncordon.
 * The uncordon is registered as a compensation before the cordon (a cordon whose reply was lost
 * may still have happened) and lifts only a cordon this run made, so a failed or cancelled run
 * never leaves the node cordoned by us and never lifts an operator's own cordon.
 */
export async function nodeUpdate(rawInput: NodeUpdateInput): Promise<RunReport> {
  const input = parseInput(NodeUpdateInput, rawInput, 'nodeUpdate');
  const { node } = input;
  const run = new MaintenanceRun('nodeUpdate', node);
  const saga = new Compensations(run);
  const owner = workflowInfo().workflowId;
  let updated = false;
  setHandler(nodeUpdatedSignal, () => {
    updated = true;
  });

  return runWithCompensations(run, saga, async () => {
    // Nothing is cordoned while blocking alerts fire; the alerts the update raises are silenced until it is done.
    const alerts = new AlertAwareWork(run, saga, input.alerts);
    run.phase = 'checking alerts';
    const d = input.drain;
    const { hookUrl, timeout } = input.update;
    const doneWhen = input.update.doneWhen ?? 'signal';
    await alerts.before(`cordoning ${node}`, node, silenceBudget(d.timeout, timeout, input.readyTimeout));

    run.phase = 'cordoning';
    saga.push(`uncordon ${node}`, () => uncordonNode({ node, onlyIfCordonedBy: owner }));
    const cordon = await run.step(`cordon ${node}`, () => cordonNode({ node, owner }));
    if (isSkipped(cordon)) {
      await alerts.endSilence();
      return { summary: `Node update of ${node} skipped: ${cordon.skipped}`, outcome: 'skipped' };
    }

    run.phase = 'draining';
    const drained = await run.step(`drain ${node}`, () =>
      drainNode({
        node,
        timeoutSeconds: seconds(d.timeout),
        gracePeriodSeconds: d.gracePeriodSeconds,
        deleteEmptyDirData: d.deleteEmptyDirData,
        evictUnmanagedPods: d.evictUnmanagedPods,
        pollIntervalMs: d.pollInterval,
        evictionRetryMs: d.evictionRetry,
        ignoreDaemonSets: true,
      }),
    );
    const evicted = isSkipped(drained) ? 0 : drained.evicted.length + drained.alreadyGone.length;

    if (input.update.method === 'job') {
      const { job, rebootJob, ready, uncordon } = await updateByJob(run, saga, input, owner, cordon.bootId);
      const rebooted = rebootJob ? 'rebooted (the host required it)' : 'no reboot required';
      const alertChecks = await alerts.after();
      return {
        summary: `Node ${node} updated by job ${job.name}: ${evicted} pod(s) evicted, ${rebooted}, ${versionChange(cordon.kubeletVersion, ready)}${lifted(uncordon)}${input.reason ? ` (${input.reason})` : ''}`,
        ...(alerts.gated ? { checks: alertChecks } : { outcome: 'ok' as const }),
        details: { drain: drained, job, rebootJob, ready, uncordon },
      };
    }

    run.phase = 'updating';
    if (hookUrl)
      await run.step('request the node update', () => requestNodeUpdate({ url: hookUrl, node, runId: owner }));
    if (doneWhen === 'signal') {
      run.waitingFor = `signal nodeUpdated (up to ${seconds(timeout)} s)`;
      await run.step('wait for the update', async () => {
        if (!(await condition(() => updated, timeout))) {
          throw failure(FailureType.UpdateTimeout, `no nodeUpdated signal for ${node} within ${seconds(timeout)} s`);
        }
      });
      run.waitingFor = null;
    }

    run.phase = 'waiting for Ready';
    const ready = await run.step(`${node} Ready${doneWhen === 'rebooted' ? ' after reboot' : ''}`, () =>
      waitForNodeReady({
        node,
        pollIntervalMs: input.pollInterval,
        timeoutSeconds: seconds(doneWhen === 'rebooted' ? timeout + input.readyTimeout : input.readyTimeout),
        rebootedFrom: doneWhen === 'rebooted' ? cordon.bootId : undefined,
      }),
    );

    run.phase = 'uncordoning';
    const uncordon = await run.step(`uncordon ${node}`, () => uncordonNode({ node, onlyIfCordonedBy: owner }));
    const alertChecks = await alerts.after();
    return {
      summary: `Node ${node} updated: ${evicted} pod(s) evicted, ${versionChange(cordon.kubeletVersion, ready)}${lifted(uncordon)}${input.reason ? ` (${input.reason})` : ''}`,
      // Graded by the alert checks when there are any: alerts firing after the update are a warning.
      ...(alerts.gated ? { checks: alertChecks } : { outcome: 'ok' as const }),
      details: { drain: drained, ready, uncordon },
    };
  });
}

type ReadyNode = Awaited<ReturnType<typeof waitForNodeReady>>;
type Uncordoned = Awaited<ReturnType<typeof uncordonNode>>;

const versionChange = (before: string, ready: ReadyNode) =>
  isSkipped(ready) || ready.kubeletVersion === before
    ? `kubelet ${before}`
    : `kubelet ${before} -> ${ready.kubeletVersion}`;

const lifted = (uncordon: Uncordoned) => (isSkipped(uncordon) || uncordon.changed ? '' : `; ${uncordon.detail}`);

/**
 * `update.method: "job"` on the drained node: the update Job (config `nodeJobs.systemUpdate`),
 * its log kept; when the host asks for a reboot, a reboot Job and the wait for a new boot id;
 * then Ready and the uncordon. Each Job's deletion is a compensation pushed before its create (a
 * create whose reply was lost may still have made it), so a failed or cancelled run leaves none.
 */
async function updateByJob(
  run: MaintenanceRun,
  saga: Compensations,
  input: z.output<typeof NodeUpdateInput>,
  owner: string,
  bootId: string,
) {
  const { node, pollInterval } = input;
  const present = <T extends object>(r: T | Skipped): T => {
    if (isSkipped(r)) throw failure(FailureType.NoCluster, `node job on ${node}: ${r.skipped}`);
    return r;
  };
  const deadlineSeconds = Math.ceil(seconds(input.update.timeout));

  run.phase = 'updating';
  const name = nodeJobName(owner, node, 'system-update');
  saga.push(`delete job ${name}`, () => deleteNodeJob({ name }));
  const started = present(
    await run.step(`start the update job on ${node}`, () =>
      startNodeJob({ node, purpose: 'system-update', workflowId: owner, deadlineSeconds }),
    ),
  );
  run.waitingFor = `job ${name} on ${node} (up to ${deadlineSeconds} s)`;
  const done = present(
    await run.step(
      `update job on ${node}`,
      () =>
        waitForNodeJob({
          name,
          node,
          // Kubernetes ends the Job at its deadline; this only outlasts a stalled Job controller.
          timeoutSeconds: deadlineSeconds + 120,
          pollIntervalMs: pollInterval,
          expectMarker: true,
        }),
      (r) =>
        isSkipped(r) ? 'skipped' : { outcome: 'ok', detail: `reboot required: ${r.rebootRequired ? 'yes' : 'no'}` },
    ),
  );
  run.waitingFor = null;
  const job = { ...started, rebootRequired: done.rebootRequired, log: done.log, waitedMs: done.waitedMs };

  let rebootJob: NodeJobRef | undefined;
  const rebootName = nodeJobName(owner, node, 'reboot');
  if (done.rebootRequired) {
    run.phase = 'rebooting';
    saga.push(`delete job ${rebootName}`, () => deleteNodeJob({ name: rebootName }));
    rebootJob = present(
      await run.step(`start the reboot job on ${node}`, () =>
        startNodeJob({
          node,
          purpose: 'reboot',
          workflowId: owner,
          deadlineSeconds: Math.ceil(seconds(input.readyTimeout)),
        }),
      ),
    );
  }

  run.phase = 'waiting for Ready';
  const ready = await run.step(`${node} Ready${rebootJob ? ' after reboot' : ''}`, () =>
    waitForNodeReady({
      node,
      pollIntervalMs: pollInterval,
      timeoutSeconds: seconds(input.readyTimeout),
      rebootedFrom: rebootJob ? bootId : undefined,
    }),
  );
  if (rebootJob) {
    // Its pod died with the boot it ended: nothing in it is worth keeping.
    await run.step(`delete job ${rebootName}`, () => deleteNodeJob({ name: rebootName }));
    saga.drop(`delete job ${rebootName}`);
  }

  run.phase = 'uncordoning';
  const uncordon = await run.step(`uncordon ${node}`, () => uncordonNode({ node, onlyIfCordonedBy: owner }));
  return { job, rebootJob, ready, uncordon };
}
