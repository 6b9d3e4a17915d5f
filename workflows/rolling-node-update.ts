import { CancellationScope, executeChild, isCancellation, ParentClosePolicy, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { failure, innermostMessage, runFailedType } from '../domain/failures.js';
import type { RunReport } from '../domain/run.js';
import { distinct, k8sObjectName } from '../domain/kubernetes-names.js';
import { inTurnUntilFailure } from './lib/concurrency.js';
import { parseInput } from './lib/input.js';
import { MaintenanceRun } from './lib/run.js';
import { nodeUpdate, NodeUpdateOptions } from './node-update.js';

// No activities of its own: each node is a `nodeUpdate` child with its own timeouts and compensation.

export const RollingNodeUpdateInput = z
  .object({
    nodes: z
      .array(k8sObjectName)
      .min(1)
      .max(1000)
      .refine((n) => distinct(n), 'nodes must be distinct'),
    /** Nodes updated at the same time; 1 keeps all but one node serving. */
    concurrency: z.number().int().min(1).max(50).default(1),
    /** Options for every node's `nodeUpdate` child. */
    node: NodeUpdateOptions.prefault({}),
  })
  .strict();
export type RollingNodeUpdateInput = z.input<typeof RollingNodeUpdateInput>;

/**
 * Updates many nodes, `concurrency` at a time, as `nodeUpdate` children (id `<this id>/<node>`,
 * which is where a `nodeUpdated` signal for a node goes). Stops starting nodes at the first
 * failure: that node has uncordoned itself, the rest are left untouched and listed.
 */
export async function rollingNodeUpdate(rawInput: RollingNodeUpdateInput): Promise<RunReport> {
  const input = parseInput(RollingNodeUpdateInput, rawInput, 'rollingNodeUpdate');
  const run = new MaintenanceRun('rollingNodeUpdate', `${input.nodes.length} nodes`);
  const parentId = workflowInfo().workflowId;
  run.phase = 'updating nodes';
  let outcomes;
  try {
    outcomes = await inTurnUntilFailure(input.nodes, input.concurrency, (node) =>
      run.step(
        `update ${node}`,
        () =>
          executeChild(nodeUpdate, {
            workflowId: `${parentId}/${node}`,
            args: [{ ...input.node, node }],
            // A cancelled rolling update cancels its running children, which then uncordon.
            parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          }),
        (report) => (report.outcome === 'skipped' ? 'skipped' : 'ok'),
      ),
    );
  } catch (err) {
    if (!isCancellation(err)) throw err;
    await CancellationScope.nonCancellable(() =>
      run.finish({ summary: `Cancelled: ${innermostMessage(err)}`, outcome: 'cancelled' }),
    );
    throw err;
  }
  const nodes = outcomes.map((o) => ({
    node: o.item,
    outcome: !o.started ? 'not started' : o.error ? 'failed' : (o.result?.outcome ?? 'ok'),
    detail: o.error ? innermostMessage(o.error) : (o.result?.summary ?? ''),
  }));
  const count = (outcome: string) => nodes.filter((n) => n.outcome === outcome).length;
  const failed = nodes.filter((n) => n.outcome === 'failed');
  const notStarted = nodes.filter((n) => n.outcome === 'not started').map((n) => n.node);
  const updated = nodes.length - failed.length - notStarted.length - count('skipped');
  const skippedNote = count('skipped') > 0 ? `, ${count('skipped')} skipped` : '';
  const summary =
    failed.length === 0
      ? `Rolling update of ${nodes.length} node(s), ${input.concurrency} at a time: ${updated} updated${skippedNote}`
      : `Rolling update stopped: ${failed.map((n) => `${n.node}: ${n.detail}`).join('; ')}; ${updated} updated${skippedNote}, not started: ${notStarted.join(', ') || 'none'}`;
  const outcome = failed.length > 0 ? 'failed' : count('skipped') === nodes.length ? 'skipped' : 'ok';
  const report = await run.finish({ summary, outcome, details: { nodes } });
  if (failed.length > 0) throw failure(runFailedType('rollingNodeUpdate'), summary);
  return report;
}
