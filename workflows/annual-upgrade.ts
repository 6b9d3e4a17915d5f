import { condition, executeChild, patched, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { GUARD_LEVEL, verificationCheck } from '../domain/backup.js';
import { describeAnnualPlan, describeNodeRule, nextDecember25, type StoredAnnualPlan } from '../domain/annual-plan.js';
import type { CheckResult } from '../domain/checks.js';
import { failure, FailureType, innermostMessage } from '../domain/failures.js';
import { distinct, k8sObjectName } from '../domain/kubernetes-names.js';
import { approvalRequestMessage } from '../domain/format.js';
import type { RunReport } from '../domain/run.js';
import { applicationUpdate, ApplicationUpdateInput } from './application-update.js';
import { dailyHealthCheck } from './daily-health-check.js';
import { apiCall, boundedWait, heavyDatabaseWork } from './lib/activity-profiles.js';
import {
  monitoringAlertsCleared,
  monitoringAlertsConfigured,
  WINDOW_ALERT_CHECKS_PATCH,
  WINDOW_SILENCES_PATCH,
} from './lib/alert-gate.js';
import { ApprovalGate, type ApprovalDecision, type ApprovalPolicy } from './lib/approval.js';
import { annualPlanAmendedSignal, databaseUpgradedSignal } from './lib/definitions.js';
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
  readAnnualPlan,
  readAnnualPlanAtOpening,
  readDeploymentRevision,
  resolveApprovalPolicy,
  resolveBlackouts,
  resolveHealthCheckPlan,
  rollbackDeployment,
  selectNodes,
} = apiCall;
const { waitForRollout } = boundedWait;
const { createDatabaseBackup, verifyBackup } = heavyDatabaseWork;

export const AnnualUpgradeInput = z
  .object({
    /** Window start (UTC); default the next December 25, 00:00 (seed: Dec 25-26). */
    windowStart: z.iso.datetime().optional(),
    windowDuration: duration(HOUR, 7 * DAY).prefault('48 hours'),
    /** Seed: notifications one week ahead; approval is asked for then and must be complete when the window opens. */
    approvalLeadTime: duration(MINUTE, 183 * DAY).prefault('7 days'),
    /** Still unapproved this long before the window: escalate. */
    escalateBefore: duration(SECOND, 30 * DAY).prefault('48 hours'),
    /**
     * Runs started before the stored plan ('annual-plan'): nodes to update; absent, every node of the
     * cluster at planning time; [] none. Refused since: the plan's node rule chooses them at the opening.
     */
    nodes: z
      .array(k8sObjectName)
      .max(1000)
      .refine((n) => distinct(n), 'nodes must be distinct')
      .optional(),
    concurrency: z.number().int().min(1).max(10).default(1),
    nodeUpdate: NodeUpdateOptions.prefault({}),
    /** Runs started before the stored plan: the upgrades. Refused since: they are the plan's (`maint plan annual`). */
    applications: z
      .array(ApplicationUpdateInput.omit({ reason: true }))
      .max(50)
      .refine(
        (apps) => distinct(apps, (a) => `${a.namespace ?? ''}/${a.deployment}`),
        'each deployment may be upgraded once',
      )
      .default([]),
    /** How every application of the stored plan is rolled out (timeouts, probes, the alert gate). */
    applicationUpdate: ApplicationUpdateInput.pick({
      rolloutTimeout: true,
      pollInterval: true,
      healthChecks: true,
      alerts: true,
    }).prefault({}),
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

/** Sleeps until `at` (workflow time); returns at once when it has passed. */
async function sleepUntil(at: Date): Promise<void> {
  const ms = at.getTime() - Date.now();
  if (ms > 0) await sleep(ms);
}

/** Since this patch the plan is stored data (`annual_upgrade_plans`), reviewed and amended until the window opens and read then. */
export const ANNUAL_PLAN_PATCH = 'annual-plan';

type Input = z.output<typeof AnnualUpgradeInput>;
type PlannedUpdate = Input['applications'][number];

interface Window {
  start: Date;
  end: Date;
  opening: WindowOpening;
}

/** What two people approved: the plan's lines and, for runs before the stored plan, the nodes and upgrades themselves. */
interface Approved {
  approvers: string[];
  plan: string[];
  /** Runs before 'annual-plan': fixed at planning time. */
  nodes?: string[];
  /** Since 'annual-plan': the stored revision approved; the run goes ahead only if the window opens on it. */
  revision?: number;
}
type Gated = Approved | { finish: FinishOptions };

function approvalRequest(
  run: MaintenanceRun,
  policy: ApprovalPolicy & { temporalUiUrl: string },
  w: Window,
  plan: string[],
  title: string,
) {
  const { workflowId, namespace } = workflowInfo();
  return {
    workflowId,
    kind: 'annualUpgrade',
    title,
    plan,
    planHash: run.approval?.planHash,
    approvers: policy.approvers,
    required: policy.required,
    deadline: w.start.toISOString(),
    uiUrl: `${policy.temporalUiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`,
  };
}

function notApproved(
  decision: Exclude<ApprovalDecision, { outcome: 'approved' }>,
  required: number,
): { finish: FinishOptions } {
  const why =
    decision.outcome === 'rejected'
      ? `rejected by ${decision.by}: ${decision.reason}`
      : `approved by ${decision.approvers.length} of the ${required} required when the window opened`;
  return {
    finish: {
      summary: `Annual maintenance did not run (${why}); nothing was changed`,
      outcome: decision.outcome === 'rejected' ? 'rejected' : 'skipped',
    },
  };
}

function openedEarly(w: Window) {
  const o = w.opening.opened;
  return o
    ? {
        outcome: 'ok' as const,
        detail: `opened early by ${o.by} at ${o.at}${o.reason ? ` (${o.reason})` : ''}; scheduled ${w.start.toISOString()}`,
      }
    : ('ok' as const);
}

/** Runs started before 'annual-plan': the plan comes from the input and the inventory at planning time. */
async function approveInputPlan(run: MaintenanceRun, input: Input, w: Window): Promise<Gated> {
  const { workflowId } = workflowInfo();
  run.phase = 'planning';
  const inventory = await run.step('inventory', () => collectClusterInventory());
  const nodes = input.nodes ?? ('skipped' in inventory ? [] : inventory.nodes.map((n) => n.name));
  const plan = [
    `window ${w.start.toISOString()} to ${w.end.toISOString()}`,
    nodes.length
      ? `rolling OS/kubelet update of ${nodes.length} node(s), ${input.concurrency} at a time: ${nodes.join(', ')}`
      : 'no node updates',
    ...input.applications.map(
      (a) =>
        `upgrade ${a.namespace ?? 'default'}/${a.deployment} container ${a.container} to ${a.image} (rollback to the revision recorded at the window)`,
    ),
    ...closingLines(input),
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
    { kind: 'annualUpgrade', actions: plan, window: { start: w.start.toISOString(), end: w.end.toISOString() } },
  );
  await run.step('wait until the approval lead time', () =>
    sleepUntil(new Date(w.start.getTime() - input.approvalLeadTime)),
  );
  const request = approvalRequest(
    run,
    policy,
    w,
    plan,
    `Annual maintenance window ${w.start.toISOString().slice(0, 10)} (one-week notice)`,
  );
  await run.step('request approval', () => postSlackMessage(approvalRequestMessage(request)));
  const decision = await awaitApproval(run, input, w, gate, () =>
    postSlackAlert(approvalRequestMessage(request, true)),
  );
  if (decision.outcome !== 'approved') return notApproved(decision, policy.required);

  run.phase = 'waiting for the window';
  await run.step(
    'wait for the window',
    () => w.opening.until(w.start),
    () => openedEarly(w),
  );
  return { approvers: decision.approvers, plan, nodes };
}

/** The database step and the post-check: the same in every plan. */
function closingLines(input: Input): string[] {
  return [
    input.databaseUpgrade
      ? `database major-version upgrade (people, confirmed by signal databaseUpgraded): ${input.databaseUpgrade.description}`
      : 'no database major-version step',
    'post-maintenance health check; rollback of every upgraded application on failure',
  ];
}

/** The approval step: open until approved, rejected, the window's start, its early opening, or `closeAlso`. */
async function awaitApproval(
  run: MaintenanceRun,
  input: Input,
  w: Window,
  gate: ApprovalGate,
  escalate: () => Promise<unknown>,
  closeAlso: () => boolean = () => false,
): Promise<ApprovalDecision> {
  const untilWindow = Math.max(w.start.getTime() - Date.now(), 1);
  w.opening.waiting = true;
  return run
    .step(
      'approval',
      () =>
        gate.wait(
          {
            escalateAfterMs: Math.max(untilWindow - input.escalateBefore, 0),
            timeoutMs: untilWindow,
            closeWhen: () => w.opening.opened !== undefined || closeAlso(),
          },
          async () => {
            await run.step('escalate', escalate);
          },
        ),
      (d) => (d.outcome === 'approved' ? 'ok' : 'skipped'),
    )
    .finally(() => {
      w.opening.waiting = false;
    });
}

const revisionDetail = (p: StoredAnnualPlan) => ({
  outcome: p.revision === 0 ? ('skipped' as const) : ('ok' as const),
  detail:
    p.revision === 0 ? 'no plan stored' : `revision ${p.revision} (sha256 ${p.hash?.slice(0, 12)}) by ${p.amendedBy}`,
});

/**
 * Since 'annual-plan': the stored plan is read for the notice and again at the approval lead time;
 * two people approve that revision (its lines and hash are in what they sign). An amendment
 * (`annualPlanAmended`, sent by `maint plan annual amend`) before the window opens voids the
 * decisions so far and asks again for the new revision; the run re-reads the plan at the opening.
 */
async function approveStoredPlan(run: MaintenanceRun, input: Input, w: Window): Promise<Gated> {
  const { workflowId } = workflowInfo();
  const windowStart = w.start.toISOString();
  let amended = false;
  setHandler(annualPlanAmendedSignal, (s) => {
    if (!s?.windowStart || Date.parse(s.windowStart) === w.start.getTime()) amended = true;
  });
  const review = `review it with \`maint plan annual --window ${windowStart}\`, amend it with \`maint plan annual amend\` until the window opens`;

  run.phase = 'planning';
  const draft = await run.step('read the plan', () => readAnnualPlan({ windowStart }), revisionDetail);
  await run.step('stakeholder notice', () =>
    postSlackMessage({
      text:
        `:calendar: Annual maintenance planned (${workflowId}), window ${windowStart} to ${w.end.toISOString()}. ` +
        `The plan as it stands (${review}; approval is asked for the plan as it is a week ahead, and the run reads it again when the window opens):\n` +
        [...describeAnnualPlan(draft), ...closingLines(input)].map((p) => `• ${p}`).join('\n'),
    }),
  );

  run.phase = 'awaiting approval';
  const policy = await resolveApprovalPolicy('annualUpgrade');
  await run.step('wait until the approval lead time', () =>
    sleepUntil(new Date(w.start.getTime() - input.approvalLeadTime)),
  );

  /** A new approval round for one revision: the plan shown, hashed into what approvers sign, and requested. */
  const ask = async (stored: StoredAnnualPlan, previous?: StoredAnnualPlan) => {
    const plan = [
      `window ${windowStart} to ${w.end.toISOString()}`,
      ...describeAnnualPlan(stored),
      ...closingLines(input),
    ];
    const gate = new ApprovalGate(
      run,
      { approvers: policy.approvers, required: policy.required },
      { kind: 'annualUpgrade', actions: plan, window: { start: windowStart, end: w.end.toISOString() } },
    );
    const request = approvalRequest(
      run,
      policy,
      w,
      plan,
      previous
        ? `Annual maintenance window ${windowStart.slice(0, 10)}: plan amended from revision ${previous.revision} to ${stored.revision}, approve again (decisions for revision ${previous.revision} no longer count)`
        : `Annual maintenance window ${windowStart.slice(0, 10)} (one-week notice), plan revision ${stored.revision}`,
    );
    await run.step(previous ? `request approval of revision ${stored.revision}` : 'request approval', () =>
      postSlackMessage(approvalRequestMessage(request)),
    );
    return { stored, plan, gate, escalate: () => postSlackAlert(approvalRequestMessage(request, true)) };
  };

  amended = false; // what is read now is the latest anyway
  let round = await ask(
    await run.step('read the plan for approval', () => readAnnualPlan({ windowStart }), revisionDetail),
  );
  let approvers: string[] | undefined;
  for (;;) {
    if (!approvers) {
      const decision = await awaitApproval(run, input, w, round.gate, round.escalate, () => amended);
      if (decision.outcome === 'rejected') return notApproved(decision, policy.required);
      if (decision.outcome === 'approved') approvers = decision.approvers;
      else if (!amended) return notApproved(decision, policy.required);
    } else {
      run.phase = 'waiting for the window';
      await run.step(
        'wait for the window',
        () => w.opening.until(w.start, () => amended),
        () => (amended ? { outcome: 'skipped', detail: 'the plan was amended: approval asked again' } : openedEarly(w)),
      );
      if (!amended) return { approvers, plan: round.plan, revision: round.stored.revision };
    }
    if (!amended) continue;
    amended = false;
    const next = await run.step('read the amended plan', () => readAnnualPlan({ windowStart }), revisionDetail);
    // A nudge without a new revision changes nothing: the decisions so far still count.
    if (next.revision === round.stored.revision) continue;
    run.phase = 'awaiting approval';
    approvers = undefined;
    round = await ask(next, round.stored);
  }
}

/**
 * Routine Maintenance Guide, "Year-End Maintenance Window (December 25-26)". Started six months
 * ahead by the `annual-upgrade` schedule so the seed's advance notice is given: the stored plan
 * (`maint plan annual`) in the notice, then approval of the plan as it is a week ahead by two
 * distinct approvers (escalated 48 h ahead; asked again when it is amended), and when the window
 * opens the plan read once more (it must be the approved revision), its nodes chosen by its rule at
 * that moment, the pre-maintenance checklist (fresh backup, monitoring alive, monitoring alerts
 * configured, recorded rollback revisions), the rolling node updates, the application upgrades,
 * the database major-version step as a human checkpoint, and the post-maintenance checks. A failure
 * rolls every upgraded application back to its recorded revision. Without both approvals when the
 * window opens, with a plan amended since, or with a configured blackout over it, nothing runs.
 */
export async function annualUpgrade(rawInput?: AnnualUpgradeInput): Promise<RunReport> {
  const input = parseInput(AnnualUpgradeInput, rawInput, 'annualUpgrade');
  const { workflowId, runId } = workflowInfo();
  const windowStart = input.windowStart ? new Date(input.windowStart) : nextDecember25(new Date());
  // The people running the window may open it early (`openWindow`): that closes the approval and starts the work.
  const w: Window = {
    start: windowStart,
    end: new Date(windowStart.getTime() + input.windowDuration),
    opening: new WindowOpening(),
  };
  const windowEnd = w.end;
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
    const storedPlan = patched(ANNUAL_PLAN_PATCH);
    if (storedPlan) {
      const given = (['nodes', 'applications'] as const).filter((k) => rawInput?.[k] !== undefined);
      if (given.length > 0)
        throw failure(
          FailureType.InvalidInput,
          `Invalid input for annualUpgrade: ${given.join(', ')}: the nodes and upgrades are the stored plan's now; review and amend it with maint plan annual`,
        );
    }
    const approved = storedPlan ? await approveStoredPlan(run, input, w) : await approveInputPlan(run, input, w);
    if ('finish' in approved) return approved.finish;

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

    let nodes = approved.nodes ?? [];
    let applications: PlannedUpdate[] = input.applications;
    let plan = approved.plan;
    if (storedPlan) {
      // The plan that runs is the one stored when the window opens, read once and closed to amendments.
      const atOpening = await run.step(
        'read the plan at the window opening',
        () => readAnnualPlanAtOpening({ windowStart: windowStart.toISOString(), workflowId, runId }),
        revisionDetail,
      );
      if (atOpening.revision !== approved.revision || !atOpening.plan) {
        const summary = !atOpening.plan
          ? `Annual maintenance did not run: no plan was stored for the window; nothing was changed`
          : `Annual maintenance did not run: the plan read when the window opened is revision ${atOpening.revision} (by ${atOpening.amendedBy} at ${atOpening.amendedAt}), not the approved revision ${approved.revision}; nothing was changed`;
        if (atOpening.plan)
          await run.step('alert: plan not approved', () =>
            postSlackAlert({ text: `:no_entry: ${workflowId}: ${summary}` }),
          );
        return { summary, outcome: 'skipped' };
      }
      const rule = atOpening.plan.nodes;
      const chosen = await run.step(
        'choose the nodes',
        () => selectNodes({ rule }),
        (r) => ({
          outcome: 'ok',
          detail: 'skipped' in r ? r.skipped : `${describeNodeRule(rule)}: ${r.nodes.join(', ') || 'none'}`,
        }),
      );
      if ('skipped' in chosen)
        throw failure(FailureType.NoCluster, `cannot update ${describeNodeRule(rule)}: ${chosen.skipped}`);
      if (rule !== 'none' && chosen.nodes.length === 0)
        throw failure(
          FailureType.PreMaintenanceCheckFailed,
          `the plan's node rule selects no node when the window opens (${describeNodeRule(rule)}); nothing was changed`,
        );
      nodes = chosen.nodes;
      applications = atOpening.plan.applications.map((a) => ({ ...input.applicationUpdate, ...a }));
      plan = [...plan, `nodes chosen when the window opened: ${nodes.join(', ') || 'none'}`];
    }
    // Since 'window-alert-checks': the checklist's "monitoring alerts configured" before, "cleared" after.
    const alertChecks = patched(WINDOW_ALERT_CHECKS_PATCH);

    const planned = [
      ...(nodes.length > 0 ? ['rolling node updates'] : []),
      ...applications.map((a) => `upgrade ${a.deployment} to ${a.image}`),
      ...(input.databaseUpgrade ? ['database major-version upgrade (human checkpoint)'] : []),
      'post-maintenance health check',
      ...(alertChecks ? ['monitoring alerts cleared'] : []),
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
          ...(alertChecks ? await monitoringAlertsConfigured(run) : []),
        ];
        const blocking = pre.filter((c) => c.status === 'critical');
        if (blocking.length > 0) {
          throw failure(
            FailureType.PreMaintenanceCheckFailed,
            `pre-maintenance checklist failed, nothing was changed: ${blocking.map((c) => `${c.check}: ${c.detail}`).join('; ')}`,
          );
        }
        const recorded = [];
        for (const a of applications) {
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
          text: `:wrench: Annual maintenance ${workflowId} started (approved by ${approved.approvers.join(', ')})`,
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
        for (const [i, a] of applications.entries()) {
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
        const cleared = alertChecks ? await monitoringAlertsCleared(run) : [];
        return {
          summary: `Annual maintenance done: ${nodes.length} node(s) updated, ${applications.length} application(s) upgraded${input.databaseUpgrade ? ', database step confirmed' : ''}; approved by ${approved.approvers.join(', ')}`,
          checks: [...pre, ...after.checks, ...cleared],
          details: {
            plan,
            ...(approved.revision !== undefined ? { planRevision: approved.revision } : {}),
            preMaintenanceBackup,
            recordedRevisions: recorded,
            databaseUpgrade: databaseUpgraded,
          },
        };
      },
    );
    return finding ? { ...result, checks: [...(result.checks ?? []), finding] } : result;
  });
}
