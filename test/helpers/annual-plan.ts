import { amendAnnualPlan, currentAnnualPlan } from '../../src/annual-plans.js';
import {
  amendmentPlan,
  amendmentRunId,
  amendmentWorkflowId,
  type AnnualPlan,
  type StoredAnnualPlan,
} from '../../domain/annual-plan.js';
import { planHash } from '../../domain/approval-proof.js';
import { signStatement } from '../../src/signing.js';
import type { AnnualUpgradeInput } from '../../workflows/annual-upgrade.js';
import { QUICK_PODS, waitForDeployment } from './cluster.js';
import { TEST_PACE_NODE_UPDATE } from './kube.js';
import type { Stack } from './stack.js';

/** The label every node a test file adds carries (test/helpers/cluster.ts): a plan's node rule for "this file's nodes". */
export const poolSelector = (stack: Stack) => `trixtech.test/pool=${stack.kube.namespace}`;

/**
 * Stores `plan` as the next revision of the window's plan, signed by `by` with their own key, as
 * `maint plan annual set` does after its checks; no run is told (that is the CLI's part).
 */
export async function storeAnnualPlan(
  stack: Stack,
  windowStart: string,
  plan: AnnualPlan,
  by: string,
): Promise<StoredAnnualPlan> {
  const base = await currentAnnualPlan(stack.db.pool, windowStart);
  const proof = signStatement(
    {
      decision: 'approve',
      workflowId: amendmentWorkflowId(windowStart),
      runId: amendmentRunId(base.revision),
      planHash: planHash(amendmentPlan(windowStart, plan)),
      principal: by,
      via: 'cli',
    },
    stack.keys.key(by),
  );
  return amendAnnualPlan(stack.db.pool, stack.config.approvals, {
    windowStart,
    baseRevision: base.revision,
    plan,
    proof,
  });
}

/** What an annual window works on in a test: `nodes` new nodes of this file's pool and the backend at 1.0.0. */
export async function annualCluster(stack: Stack, nodes: number): Promise<string[]> {
  const names = await stack.kube.addNodes(nodes);
  await stack.kube.deploy('trixtech-backend', {
    replicas: 2,
    image: 'trixtech/backend:1.0.0',
    podAnnotations: QUICK_PODS,
  });
  await waitForDeployment(stack.kube, 'trixtech-backend');
  return names;
}

/**
 * Annual window options at test pace: approval asked for at once (the window is nearer than the
 * lead time) and escalated at once; nodes updated through `hookUrl`; short polls and timeouts.
 */
export const testPaceAnnualOptions = (hookUrl: string, databaseUpgrade: { description: string; timeout: string }) =>
  ({
    approvalLeadTime: '7 days',
    escalateBefore: '2 hours',
    nodeUpdate: { ...TEST_PACE_NODE_UPDATE, update: { hookUrl, doneWhen: 'rebooted', timeout: '30s' } },
    applicationUpdate: { rolloutTimeout: '60s', pollInterval: 200 },
    databaseUpgrade,
  }) satisfies AnnualUpgradeInput;
