import { condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { isSkipped } from '../domain/cluster.js';
import { failure, FailureType } from '../domain/failures.js';
import { httpUrlSchema } from '../domain/http-target.js';
import { k8sObjectName } from '../domain/kubernetes-names.js';
import type { RunReport } from '../domain/run.js';
import { localApiCall, nodeUpdateWait } from './lib/activity-profiles.js';
import { AlertAwareWork, AlertGateOptions, silenceBudget } from './lib/alert-gate.js';
import { nodeUpdatedSignal } from './lib/definitions.js';
import { DAY, duration, HOUR, MIN_POLL_MS, MINUTE, SECOND, seconds } from './lib/duration.js';
import { parseInput } from './lib/input.js';
import { MaintenanceRun } from './lib/run.js';
import { Compensations, runWithCompensations } from './lib/saga.js';

const { cordonNode, requestNodeUpdate, uncordonNode } = localApiCall;
const { drainNode, waitForNodeReady } = nodeUpdateWait;

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
        /** POSTed `{node, runId}` once the node is drained, to start its update. */
        hookUrl: httpUrlSchema.optional(),
        /** `signal`: wait for the `nodeUpdated` signal; `rebooted`: wait for the node to boot again. */
        doneWhen: z.enum(['signal', 'rebooted']).default('signal'),
        timeout: duration(SECOND, 3 * DAY).prefault('2 hours'),
      })
      .strict()
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
    const { hookUrl, doneWhen, timeout } = input.update;
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
    const evicted = isSkipped(drained) ? 0 : drained.evicted.length + drained.alreadyGone.length;
    const versions =
      isSkipped(ready) || ready.kubeletVersion === cordon.kubeletVersion
        ? `kubelet ${cordon.kubeletVersion}`
        : `kubelet ${cordon.kubeletVersion} -> ${ready.kubeletVersion}`;
    const lifted = isSkipped(uncordon) ? '' : uncordon.changed ? '' : `; ${uncordon.detail}`;
    const alertChecks = await alerts.after();
    return {
      summary: `Node ${node} updated: ${evicted} pod(s) evicted, ${versions}${lifted}${input.reason ? ` (${input.reason})` : ''}`,
      // Graded by the alert checks when there are any: alerts firing after the update are a warning.
      ...(alerts.gated ? { checks: alertChecks } : { outcome: 'ok' as const }),
      details: { drain: drained, ready, uncordon },
    };
  });
}
