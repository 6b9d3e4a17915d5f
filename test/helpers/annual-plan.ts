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
