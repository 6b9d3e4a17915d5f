import { condition, executeChild, patched, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { GUARD_LEVEL, verificationCheck } from '../domain/backup.js';
import type { CheckResult } from '../domain/checks.js';
import { failure, FailureType, innermostMessage } from '../domain/failures.js';
import { distinct, k8sObjectName } from '../domain/kubernetes-names.js';
import { approvalRequestMessage } from '../domain/format.js';
import type { RunReport } from '../domain/run.js';
import { applicationUpdate, ApplicationUpdateInput } from './application-update.js';
import { dailyHealthCheck } from './daily-health-check.js';
import { apiCall, boundedWait, heavyDatabaseWork } from './lib/activity-profiles.js';
import { WINDOW_SILENCES_PATCH } from './lib/alert-gate.js';
import { ApprovalGate } from './lib/approval.js';
import { databaseUpgradedSignal } from './lib/definitions.js';
import { DAY, duration, HOUR, MINUTE, SECOND, seconds } from './lib/duration.js';
import { parseInput } from './lib/input.js';
import { MaintenanceRun, type FinishOptions } from './lib/run.js';
import { Compensations, runWithCompensations } from './lib/saga.js';
import { withStatusUpdates } from './lib/window.js';
import { WindowOpening } from './lib/window-opening.js';
import { NodeUpdateOptions } from './node-update.js';
import { rollingNodeUpdate } from './rolling-node-update.js';

const {
  checkBackupFreshness,
  checkMonitoringAlive,
  collectClusterInventory,
  postSlackAlert,
  postSlackMessage,
  readDeploymentRevision,
  resolveApprovalPolicy,
  resolveBlackouts,
  resolveHealthCheckPlan,
  rollbackDeployment,
} = apiCall;
const { waitForRollout } = boundedWait;
const { createDatabaseBackup, verifyBackup } = heavyDatabaseWork;

const DAY_MS = 86_400_000;

export const AnnualUpgradeInput = z
  .object({
    /** Window start (UTC); default the next December 25, 00:00 (seed: Dec 25-26). */
    windowStart: z.iso.datetime().optional(),
    windowDuration: duration(HOUR, 7 * DAY).prefault('48 hours'),
    /** Seed: notifications one week ahead; approval is asked for then and must be complete when the window opens. */
    approvalLeadTime: duration(MINUTE, 183 * DAY).prefault('7 days'),
    /** Still unapproved this long before the window: escalate. */
    escalateBefore: duration(SECOND, 30 * DAY).prefault('48 hours'),
    /** Nodes to update, one at a time by default; absent: every node of the cluster at planning time. */
    // [] means no node updates this year (applications only).
    nodes: z
      .array(k8sObjectName)
      .max(1000)
      .refine((n) => distinct(n), 'nodes must be distinct')
      .optional(),
    concurrency: z.number().int().min(1).max(10).default(1),
    nodeUpdate: NodeUpdateOptions.prefault({}),
    applications: z
      .array(ApplicationUpdateInput.omit({ reason: true }))
      .max(50)
      .refine(
        (apps) => distinct(apps, (a) => `${a.namespace ?? ''}/${a.deployment}`),
        'each deployment may be upgraded once',
      )
      .default([]),
    /** The database major-version upgrade is done by people; the run waits for `databaseUpgraded`. */
    databaseUpgrade: z
      .object({
        description: z.string().trim().min(3).max(500),
        timeout: duration(10 * SECOND, 3 * DAY).prefault('8 hours'),
      })
      .strict()
      .optional(),
    /** Seed "Status updates during maintenance windows": how often one is posted while the window's work runs. */
    statusUpdateEvery: duration(SECOND, DAY).prefault('30 minutes'),
  })
  .strict()
  .refine((i) => i.escalateBefore < i.approvalLeadTime, {
    message: 'escalateBefore must be shorter than approvalLeadTime',
    path: ['escalateBefore'],
  })
  // Workflow time: deterministic. A window already over, or years away, is a typo, refused before anyone is asked.
  .refine((i) => !i.windowStart || Date.parse(i.windowStart) + i.windowDuration > Date.now(), {
    message: 'the window is already over',
    path: ['windowStart'],
  })
  .refine((i) => !i.windowStart || Date.parse(i.windowStart) < Date.now() + 2 * 366 * DAY, {
    message: 'the window starts more than two years from now',
    path: ['windowStart'],
  });
export type AnnualUpgradeInput = z.input<typeof AnnualUpgradeInput>;

function nextDecember25(now: Date): Date {
  const thisYear = Date.UTC(now.getUTCFullYear(), 11, 25);
  return new Date(now.getTime() < thisYear + 2 * DAY_MS ? thisYear : Date.UTC(now.getUTCFullYear() + 1, 11, 25));
}

/** Sleeps until `at` (workflow time); returns at once when it has passed. */
async function sleepUntil(at: Date): Promise<void> {
  const ms = at.getTime() - Date.now();
  if (ms > 0) await sleep(ms);
}

/**
 * Routine Maintenance Guide, "Year-End Maintenance Window (December 25-26)". Started six months
 * ahead by the `annual-upgrade` schedule so the seed's advance notice is given: planning and the
 * notice, then approval by two distinct approvers asked a week ahead (escalated 48 h ahead), the
 * pre-maintenance checklist when the window opens (fresh backup, recorded rollback revisions,
 * monitoring alive), then inside the window the rolling node updates, the application upgrades,
 * the database major-version step as a human checkpoint, and the post-maintenance health check.
 * A failure rolls every upgraded application back to its recorded revision. Without both
 * approvals when the window opens, or with a configured blackout over it, nothing runs.
 */
export async function annualUpgrade(rawInput?: AnnualUpgradeInput): Promise<RunReport> {
  const input = parseInput(AnnualUpgradeInput, rawInput, 'annualUpgrade');
  const { workflowId, namespace } = workflowInfo();
  const windowStart = input.windowStart ? new Date(input.windowStart) : nextDecember25(new Date());
  // The people running the window may open it early (`openWindow`): that closes the approval and starts the work.
  const opening = new WindowOpening();
  const windowEnd = new Date(windowStart.getTime() + input.windowDuration);
  const run = new MaintenanceRun('annualUpgrade', `window ${windowStart.toISOString().slice(0, 10)}`);
  // The run's report, whatever it says, is the window's: due within 24 h of its end.
  const window = { name: 'annual', start: windowStart.toISOString(), end: windowEnd.toISOString() };
  run.window = window;
  const saga = new Compensations(run);
  let databaseUpgraded: { by?: string; detail?: string } | undefined;
  setHandler(databaseUpgradedSignal, (s) => {
    databaseUpgraded = s ?? {};
  });

  return runWithCompensations(run, saga, async () => {
    run.phase = 'planning';
    const inventory = await run.step('inventory', () => collectClusterInventory());
    const nodes = input.nodes ?? ('skipped' in inventory ? [] : inventory.nodes.map((n) => n.name));
    const plan = [
      `window ${windowStart.toISOString()} to ${windowEnd.toISOString()}`,
      nodes.length
        ? `rolling OS/kubelet update of ${nodes.length} node(s), ${input.concurrency} at a time: ${nodes.join(', ')}`
        : 'no node updates',
      ...input.applications.map(
        (a) =>
          `upgrade ${a.namespace ?? 'default'}/${a.deployment} container ${a.container} to ${a.image} (rollback to the revision recorded at the window)`,
      ),
      input.databaseUpgrade
        ? `database major-version upgrade (people, confirmed by signal databaseUpgraded): ${input.databaseUpgrade.description}`
        : 'no database major-version step',
      'post-maintenance health check; rollback of every upgraded application on failure',
    ];
    await run.step('stakeholder notice', () =>
      postSlackMessage({
        text: `:calendar: Annual maintenance planned (${workflowId}):\n${plan.map((p) => `• ${p}`).join('\n')}`,
      }),
    );

    run.phase = 'awaiting approval';
    const policy = await resolveApprovalPolicy('annualUpgrade');
    const gate = new ApprovalGate(
      run,
      { approvers: policy.approvers, required: policy.required },
      {
        kind: 'annualUpgrade',
        actions: plan,
        window: { start: windowStart.toISOString(), end: windowEnd.toISOString() },
      },
    );
    await run.step('wait until the approval lead time', () =>
      sleepUntil(new Date(windowStart.getTime() - input.approvalLeadTime)),
    );
    const request = {
      workflowId,
      kind: 'annualUpgrade',
      title: `Annual maintenance window ${windowStart.toISOString().slice(0, 10)} (one-week notice)`,
      plan,
      planHash: run.approval?.planHash,
      approvers: policy.approvers,
      required: policy.required,
      deadline: windowStart.toISOString(),
      uiUrl: `${policy.temporalUiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`,
    };
    await run.step('request approval', () => postSlackMessage(approvalRequestMessage(request)));
    const untilWindow = Math.max(windowStart.getTime() - Date.now(), 1);
    opening.waiting = true;
    const decision = await run
      .step(
        'approval',
        () =>
          gate.wait(
            {
              escalateAfterMs: Math.max(untilWindow - input.escalateBefore, 0),
              timeoutMs: untilWindow,
              closeWhen: () => opening.opened !== undefined,
            },
            async () => {
              await run.step('escalate', () => postSlackAlert(approvalRequestMessage(request, true)));
            },
          ),
        (d) => (d.outcome === 'approved' ? 'ok' : 'skipped'),
      )
      .finally(() => {
        opening.waiting = false;
      });
    if (decision.outcome !== 'approved') {
      const why =
        decision.outcome === 'rejected'
          ? `rejected by ${decision.by}: ${decision.reason}`
          : `approved by ${decision.approvers.length} of the ${policy.required} required when the window opened`;
      return {
        summary: `Annual maintenance did not run (${why}); nothing was changed`,
        outcome: decision.outcome === 'rejected' ? 'rejected' : 'skipped',
      };
    }

    run.phase = 'waiting for the window';
    await run.step(
      'wait for the window',
      () => opening.until(windowStart),
      () =>
        opening.opened
          ? {
              outcome: 'ok',
              detail: `opened early by ${opening.opened.by} at ${opening.opened.at}${opening.opened.reason ? ` (${opening.opened.reason})` : ''}; scheduled ${windowStart.toISOString()}`,
            }
          : 'ok',
    );
    if (Date.now() >= windowEnd.getTime()) {
      return {
        summary: `Annual maintenance did not run: the window ended ${windowEnd.toISOString()} before it could start; nothing was changed`,
        outcome: 'skipped',
      };
    }
    // A blackout (a change freeze, a sale) declared over the window overrides even a two-person approval.
    if (patched('annual-blackouts')) {
      const blackouts = await run.step('blackout periods', () => resolveBlackouts());
      const now = Date.now();
      const freeze = blackouts.find((b) => Date.parse(b.start) < windowEnd.getTime() && Date.parse(b.end) > now);
      if (freeze) {
        return {
          summary: `Annual maintenance did not run: blackout ${freeze.name} (${freeze.start} to ${freeze.end}${freeze.reason ? `: ${freeze.reason}` : ''}) covers the window; nothing was changed`,
          outcome: 'skipped',
        };
      }
    }

    const planned = [
      ...(nodes.length > 0 ? ['rolling node updates'] : []),
      ...input.applications.map((a) => `upgrade ${a.deployment} to ${a.image}`),
      ...(input.databaseUpgrade ? ['database major-version upgrade (human checkpoint)'] : []),
      'post-maintenance health check',
    ];
    const { result, finding } = await withStatusUpdates(
      run,
      window,
      input.statusUpdateEvery,
      planned,
      async (): Promise<FinishOptions> => {
        run.phase = 'pre-maintenance checklist';
        const targets = await resolveHealthCheckPlan();
        // Seed: "Backup completed and verified". Runs recorded before it checked only the newest file's
        // age and size (a 6-byte file passed); now the window takes a fresh dump and reads every byte back.
        let preMaintenanceBackup: { file: string; sha256?: string; level: string } | undefined;
        const pre: CheckResult[] = [
          ...(patched('annual-verified-backup')
            ? await run.checkStep('fresh backup verified readable', async () => {
                let file: string;
                try {
                  file = (await createDatabaseBackup({})).file;
                } catch (err) {
                  return [
                    {
                      check: 'backup',
                      target: targets.database,
                      status: 'critical' as const,
                      threshold: `verified ${GUARD_LEVEL}`,
                      detail: `level none: no fresh backup could be taken: ${innermostMessage(err)}`,
                    },
                  ];
                }
                const v = await verifyBackup({ file, level: GUARD_LEVEL });
                preMaintenanceBackup = { file, sha256: v.sha256, level: v.level };
                return [verificationCheck('backup', file, v)];
              })
            : await run.checkStep('backup younger than 24 h', () =>
                checkBackupFreshness(targets.backup, targets.thresholds),
              )),
          ...(await run.checkStep('monitoring alive', () => checkMonitoringAlive(targets.monitoring))),
        ];
        const blocking = pre.filter((c) => c.status === 'critical');
        if (blocking.length > 0) {
          throw failure(
            FailureType.PreMaintenanceCheckFailed,
            `pre-maintenance checklist failed, nothing was changed: ${blocking.map((c) => `${c.check}: ${c.detail}`).join('; ')}`,
          );
        }
        const recorded = [];
        for (const a of input.applications) {
          const before = await run.step(`record the revision of ${a.deployment}`, () =>
            readDeploymentRevision({ deployment: a.deployment, namespace: a.namespace }),
          );
          if ('skipped' in before)
            throw failure(FailureType.NoCluster, `cannot upgrade ${a.deployment}: ${before.skipped}`);
          recorded.push(before);
        }

        run.phase = 'in the window';
        // Since this patch: the silences the children hold while they work end with the window at the latest.
        const silenceUntil = patched(WINDOW_SILENCES_PATCH) ? { silenceUntil: windowEnd.toISOString() } : {};
        await postSlackMessage({
          text: `:wrench: Annual maintenance ${workflowId} started (approved by ${decision.approvers.join(', ')})`,
        }).catch(() => undefined);
        if (nodes.length > 0) {
          await run.step('rolling node updates', () =>
            executeChild(rollingNodeUpdate, {
              workflowId: `${workflowId}/nodes`,
              args: [
                {
                  nodes,
                  concurrency: input.concurrency,
                  node: { ...input.nodeUpdate, alerts: { ...input.nodeUpdate.alerts, ...silenceUntil } },
                },
              ],
            }),
          );
        }
        for (const [i, a] of input.applications.entries()) {
          const before = recorded[i]!;
          await run.step(`upgrade ${a.deployment} to ${a.image}`, () =>
            executeChild(applicationUpdate, {
              workflowId: `${workflowId}/app-${a.deployment}`,
              args: [{ ...a, alerts: { ...a.alerts, ...silenceUntil }, reason: 'annual upgrade' }],
            }),
          );
          // A later failure rolls this upgrade back to the revision recorded at the window.
          saga.push(`roll ${a.deployment} back to revision ${before.revision}`, async () => {
            await rollbackDeployment({ deployment: a.deployment, namespace: a.namespace, toRevision: before.revision });
            return waitForRollout({
              deployment: a.deployment,
              namespace: a.namespace,
              timeoutSeconds: seconds(a.rolloutTimeout),
            });
          });
        }
        if (input.databaseUpgrade) {
          const { description, timeout } = input.databaseUpgrade;
          await postSlackMessage({
            text: `:elephant: ${workflowId}: database step for people: ${description}. Signal databaseUpgraded when done.`,
          }).catch(() => undefined);
          run.waitingFor = `signal databaseUpgraded: ${description}`;
          await run.step('database major-version upgrade (human checkpoint)', async () => {
            if (!(await condition(() => databaseUpgraded !== undefined, timeout))) {
              throw failure(FailureType.CheckpointTimeout, `no databaseUpgraded signal within ${seconds(timeout)} s`);
            }
          });
          run.waitingFor = null;
        }

        run.phase = 'post-maintenance checklist';
        const after = await run.step(
          'post-maintenance health check',
          () =>
            executeChild(dailyHealthCheck, {
              workflowId: `${workflowId}/post-check`,
              args: [{ reason: 'annual maintenance post-check' }],
            }),
          (r) => (r.outcome === 'critical' || r.outcome === 'warn' ? r.outcome : 'ok'),
        );
        if (after.outcome === 'critical') {
          throw failure(
            FailureType.PostMaintenanceCheckFailed,
            `post-maintenance health check critical: ${after.summary}`,
          );
        }
        return {
          summary: `Annual maintenance done: ${nodes.length} node(s) updated, ${input.applications.length} application(s) upgraded${input.databaseUpgrade ? ', database step confirmed' : ''}; approved by ${decision.approvers.join(', ')}`,
          checks: [...pre, ...after.checks],
          details: { plan, preMaintenanceBackup, recordedRevisions: recorded, databaseUpgrade: databaseUpgraded },
        };
      },
    );
    return finding ? { ...result, checks: [...(result.checks ?? []), finding] } : result;
  });
}
