import { executeChild, patched, sleep, workflowInfo } from '@temporalio/workflow';
import { isSkipped } from '../domain/cluster.js';
import {
  APPROVAL_TIMING,
  EmergencyInput,
  emergencyPlan,
  emergencyTarget,
  type EmergencyAction,
} from '../domain/emergency.js';
import { failure, FailureType } from '../domain/failures.js';
import { approvalRequestMessage } from '../domain/format.js';
import type { RunReport } from '../domain/run.js';
import { dailyHealthCheck } from './daily-health-check.js';
import { apiCall, boundedWait, heavyDatabaseWork } from './lib/activity-profiles.js';
import { ApprovalGate, verifyRequester } from './lib/approval.js';
import { parseInput } from './lib/input.js';
import { MaintenanceRun } from './lib/run.js';
import { Compensations, runWithCompensations } from './lib/saga.js';

const {
  cancelRunawayQueries,
  collectClusterInventory,
  cordonNode,
  findMissingTables,
  postSlackAlert,
  postSlackMessage,
  resolveApprovalPolicy,
  restartDeployment,
  rollbackDeployment,
  scaleDeployment,
  uncordonNode,
} = apiCall;
const { drainNode, waitForRollout } = boundedWait;
const { vacuumAnalyzeTables } = heavyDatabaseWork;

const DRAIN_TIMEOUT_SECONDS = 15 * 60;
const ROLLOUT_TIMEOUT_SECONDS = 10 * 60;

function invalidTarget(index: number, message: string) {
  return failure(FailureType.InvalidInput, `Invalid input for emergencyMaintenance: actions.${index}: ${message}`);
}

/** Bad targets fail the run before anyone is asked to approve: every node and deployment must exist. */
async function checkTargetsExist(actions: EmergencyAction[]): Promise<void> {
  const tables = actions.flatMap((a) => (a.kind === 'vacuum-table' ? [a.table] : []));
  const missing = tables.length > 0 ? await findMissingTables(tables) : [];
  const inCluster = actions.filter((a) => a.kind !== 'cancel-runaway-queries' && a.kind !== 'vacuum-table');
  const inventory = inCluster.length > 0 ? await collectClusterInventory() : undefined;
  for (const [i, a] of actions.entries()) {
    if (a.kind === 'vacuum-table') {
      if (missing.includes(a.table)) throw invalidTarget(i, `table ${a.table} does not exist`);
      continue;
    }
    if (a.kind === 'cancel-runaway-queries' || !inventory) continue;
    if (isSkipped(inventory)) throw invalidTarget(i, `${a.kind} needs a Kubernetes cluster: ${inventory.skipped}`);
    if (a.kind === 'drain-node' && !inventory.nodes.some((n) => n.name === a.node)) {
      throw invalidTarget(i, `node ${a.node} does not exist (nodes: ${inventory.nodes.map((n) => n.name).join(', ')})`);
    }
    if (
      a.kind !== 'drain-node' &&
      !inventory.deployments.some((d) => d.namespace === a.namespace && d.name === a.deployment)
    ) {
      throw invalidTarget(i, `deployment ${a.namespace}/${a.deployment} does not exist`);
    }
  }
}

/** Executes one approved action; returns what it did. Undo steps go on the saga as the work starts. */
async function execute(a: EmergencyAction, saga: Compensations, restartedAt: string): Promise<string> {
  const owner = workflowInfo().workflowId;
  const rolledOut = (namespace: string, deployment: string) =>
    waitForRollout({ namespace, deployment, timeoutSeconds: ROLLOUT_TIMEOUT_SECONDS });
  switch (a.kind) {
    case 'drain-node': {
      // The node stays cordoned once drained (that is the point); only a failed drain lifts our cordon.
      saga.push(`uncordon ${a.node}`, () => uncordonNode({ node: a.node, onlyIfCordonedBy: owner }));
      await cordonNode({ node: a.node, owner });
      const drained = await drainNode({
        node: a.node,
        timeoutSeconds: DRAIN_TIMEOUT_SECONDS,
        ignoreDaemonSets: true,
        deleteEmptyDirData: true,
        evictUnmanagedPods: a.allowUnmanagedPods,
      });
      saga.drop(`uncordon ${a.node}`);
      return isSkipped(drained)
        ? drained.skipped
        : `${drained.evicted.length + drained.alreadyGone.length} pod(s) evicted, node left cordoned`;
    }
    case 'rollback-deployment': {
      const r = await rollbackDeployment({
        namespace: a.namespace,
        deployment: a.deployment,
        toRevision: String(a.revision),
      });
      await rolledOut(a.namespace, a.deployment);
      return isSkipped(r)
        ? r.skipped
        : `${r.changed ? 'rolled back' : 'already'} on revision ${a.revision}'s template (${r.replicaSet})`;
    }
    case 'restart-deployment': {
      const r = await restartDeployment({ namespace: a.namespace, deployment: a.deployment, restartedAt });
      await rolledOut(a.namespace, a.deployment);
      return isSkipped(r)
        ? r.skipped
        : `${r.changed ? 'restarted' : 'already restarted by this run'}, rollout complete`;
    }
    case 'scale-deployment': {
      const r = await scaleDeployment({ namespace: a.namespace, deployment: a.deployment, replicas: a.replicas });
      await rolledOut(a.namespace, a.deployment);
      return isSkipped(r) ? r.skipped : `scaled from ${r.previousReplicas} to ${a.replicas}`;
    }
    case 'vacuum-table': {
      const [r] = await vacuumAnalyzeTables({ tables: [a.table], allowFull: false });
      if (!r || r.status !== 'done')
        throw failure(FailureType.VacuumSkipped, `VACUUM of ${a.table} did not run: ${r?.reason ?? 'no result'}`);
      return `dead tuples ${r.deadTuplesBefore} -> ${r.deadTuplesAfter} in ${r.durationMs} ms`;
    }
    case 'cancel-runaway-queries': {
      const r = await cancelRunawayQueries({ olderThanSeconds: a.olderThanSeconds, terminate: a.terminate });
      return `${r.stopped.length} quer${r.stopped.length === 1 ? 'y' : 'ies'} stopped with ${r.method}${r.stopped.length ? `: ${r.stopped.map((q) => `pid ${q.pid} (${q.seconds} s)`).join(', ')}` : ''}`;
    }
  }
}

/**
 * Routine Maintenance Guide, "Emergency Maintenance Procedures": assess (a health snapshot),
 * approve (allow-listed approvers, not the requester alone; escalation, then the request lapses
 * with nothing changed), execute the requested actions, verify (a health check after), and remind
 * everyone of the post-mortem 24 h later on a durable timer.
 */
export async function emergencyMaintenance(rawInput: EmergencyInput): Promise<RunReport> {
  const input = parseInput(EmergencyInput, rawInput, 'emergencyMaintenance');
  const { workflowId, namespace } = workflowInfo();
  const approvalPlan = emergencyPlan(input.actions);
  const plan = approvalPlan.actions;
  const run = new MaintenanceRun('emergencyMaintenance', emergencyTarget(input.actions));
  const saga = new Compensations(run);
  // Fixed once in history so a retried restart is recognised as the same restart.
  const restartedAt = new Date().toISOString();
  const status = (text: string) =>
    postSlackMessage({ text: `:construction: ${workflowId}: ${text}` }).catch(() => 'undelivered');

  const report = await runWithCompensations(run, saga, async () => {
    run.phase = 'assessment';
    await run.step('check the targets exist', () => checkTargetsExist(input.actions));
    // Since signed approvals, the requester is whoever signed the request, never a typed name.
    const requester = patched('signed-approvals')
      ? await run.step('verify the requester', () =>
          verifyRequester(input.requestProof, approvalPlan, input.requestedBy, 'emergencyMaintenance'),
        )
      : input.requestedBy;
    const policy = await resolveApprovalPolicy('emergencyMaintenance');
    const gate = new ApprovalGate(
      run,
      { approvers: policy.approvers, required: policy.required, requester },
      approvalPlan,
    );
    const assessment = await run.step(
      'health snapshot',
      () =>
        executeChild(dailyHealthCheck, {
          workflowId: `${workflowId}-assessment`,
          args: [{ reason: `emergency assessment: ${input.reason}` }],
        }),
      (r) => (r.outcome === 'critical' || r.outcome === 'warn' ? r.outcome : 'ok'),
    );

    run.phase = 'approval';
    const timing = input.approval ?? APPROVAL_TIMING[input.severity];
    const request = {
      workflowId,
      kind: 'emergencyMaintenance',
      title: `[${input.severity}] ${input.reason} (requested by ${requester}; assessment: ${assessment.outcome})`,
      plan,
      planHash: run.approval?.planHash,
      approvers: policy.approvers,
      required: policy.required,
      requester,
      deadline: new Date(Date.now() + timing.timeoutSeconds * 1000).toISOString(),
      uiUrl: `${policy.temporalUiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`,
    };
    await run.step('request approval', () => postSlackMessage(approvalRequestMessage(request)));
    const decision = await run.step(
      'approval',
      () =>
        gate.wait(
          { escalateAfterMs: timing.escalateAfterSeconds * 1000, timeoutMs: timing.timeoutSeconds * 1000 },
          async () => {
            await run.step('escalate', () => postSlackAlert(approvalRequestMessage(request, true)));
          },
        ),
      (d) => (d.outcome === 'approved' ? 'ok' : 'skipped'),
    );
    if (decision.outcome === 'rejected') {
      return {
        summary: `Emergency rejected by ${decision.by}: ${decision.reason}; nothing was changed`,
        outcome: 'rejected',
      };
    }
    if (decision.outcome === 'timed-out') {
      return {
        summary: `Emergency approval timed out after ${timing.timeoutSeconds} s (escalated); nothing was changed`,
        outcome: 'timed-out',
      };
    }

    run.phase = 'execution';
    await status(`approved by ${decision.approvers.join(', ')}; executing ${plan.length} action(s)`);
    const done: string[] = [];
    for (const [i, action] of input.actions.entries()) {
      await status(`action ${i + 1}/${plan.length}: ${plan[i]}`);
      done.push(`${plan[i]}: ${await run.step(plan[i]!, () => execute(action, saga, restartedAt))}`);
    }

    run.phase = 'verification';
    const verification = await run.step(
      'health check after',
      () =>
        executeChild(dailyHealthCheck, {
          workflowId: `${workflowId}-verification`,
          args: [{ reason: 'emergency verification' }],
        }),
      (r) => (r.outcome === 'critical' || r.outcome === 'warn' ? r.outcome : 'ok'),
    );
    await status(`done; verification ${verification.outcome}`);
    return {
      summary: `Emergency "${input.reason}" executed (${done.length} action(s), approved by ${decision.approvers.join(', ')}); verification ${verification.outcome}`,
      checks: verification.checks,
      alertOnCritical: true,
      details: { actions: done, assessment: assessment.summary, verification: verification.summary },
    };
  });

  if (report.outcome === 'ok' || report.outcome === 'warn' || report.outcome === 'critical') {
    run.phase = 'awaiting post-mortem';
    const due = new Date(Date.now() + input.postMortemDelaySeconds * 1000);
    run.waitingFor = `post-mortem reminder at ${due.toISOString()}`;
    await sleep(input.postMortemDelaySeconds * 1000);
    await postSlackMessage({
      text: `:memo: Post-mortem due for emergency ${workflowId} ("${input.reason}"): document the incident, the response and the improvements (seed: within 24 h).`,
    }).catch(() => undefined);
    run.waitingFor = null;
    run.phase = 'done';
  }
  return report;
}
