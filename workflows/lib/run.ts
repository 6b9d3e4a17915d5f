import {
  CancellationScope,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ApprovalRequestState } from '../../domain/approval-proof.js';
import { summarizeChecks, alertSlackMessage, reportMarkdown, reportSlackMessage } from '../../domain/format.js';
import type { z } from 'zod';
import { worstStatus, type CheckResult } from '../../domain/checks.js';
import { failure, FailureType, innermostMessage, isFailure, runFailedType } from '../../domain/failures.js';
import { accountChecklist, describeAccount } from '../../domain/checklists.js';
import {
  FIXED_TARGETS,
  SEARCH_ATTRIBUTES,
  runningSearchAttributes,
  type FixedTargetKind,
  type ApprovalRecord,
  type DeliveryRecord,
  type Outcome,
  type RunReport,
  type RunStatus,
  type StepOutcome,
  type StepRecord,
} from '../../domain/run.js';
import type { WindowOccurrence } from '../../domain/windows.js';
import { bestEffortNotice, localBestEffortNotice } from './activity-profiles.js';
import { statusQuery } from './definitions.js';
import { parseInput } from './input.js';

const MEMO_REPORT_LIMIT = 16_000;
/** Outcomes of runs that did their work; rejected, skipped, timed-out or cancelled ones changed nothing to account for. */
const RAN: ReadonlySet<Outcome> = new Set(['ok', 'warn', 'critical', 'failed']);

export interface FinishOptions {
  summary: string;
  checks?: CheckResult[];
  outcome?: Outcome;
  details?: Record<string, unknown>;
  /** Send an alert to the alert channel when the outcome is critical or failed. */
  alertOnCritical?: boolean;
  /** Routine runs every few hours post to Slack only when something is wrong; the report is stored all the same. */
  postOnlyProblems?: boolean;
}

/**
 * The bookkeeping every maintenance workflow shares: search attributes, the `status` query,
 * step outcomes, and the closing report (stored, posted, in the memo and the UI details).
 */
export class MaintenanceRun {
  phase = 'starting';
  waitingFor: string | null = null;
  readonly steps: StepRecord[] = [];
  readonly approvals: ApprovalRecord[] = [];
  approval: ApprovalRequestState | null = null;
  /** The maintenance window the run works in, once known: recorded in the report. */
  window: WindowOccurrence | null = null;
  private outcome: Outcome = 'running';

  constructor(
    readonly kind: string,
    readonly target: string,
  ) {
    const attributes = runningSearchAttributes(kind, target);
    // A starter that knew them set them at start (the run is findable while still queued); a run
    // started without them (the plain CLI, runs from before) gets them here, one command more.
    const atStart = workflowInfo().typedSearchAttributes;
    if (!attributes.every(({ key, value }) => atStart.get(key) === value)) upsertSearchAttributes(attributes);
    setHandler(statusQuery, (): RunStatus => ({
      kind: this.kind,
      target: this.target,
      phase: this.phase,
      steps: this.steps,
      approvals: this.approvals,
      approval: this.approval,
      waitingFor: this.waitingFor,
      outcome: this.outcome,
    }));
  }

  /**
   * Runs one step, recording its outcome (and, if `grade` gives one, a detail); a thrown error is
   * recorded as "failed" and re-thrown.
   */
  step<T>(
    name: string,
    fn: () => Promise<T>,
    grade: (result: T) => StepOutcome | { outcome: StepOutcome; detail: string } = () => 'ok',
  ): Promise<T> {
    const record: StepRecord = { name, outcome: 'running', startedAt: new Date().toISOString() };
    this.steps.push(record);
    const fail = (err: unknown): never => {
      record.outcome = 'failed';
      record.detail = innermostMessage(err);
      record.finishedAt = new Date().toISOString();
      throw err;
    };
    const succeed = (result: T): T => {
      let graded: ReturnType<typeof grade>;
      try {
        graded = grade(result);
      } catch (err) {
        return fail(err);
      }
      if (typeof graded === 'string') record.outcome = graded;
      else Object.assign(record, graded);
      record.finishedAt = new Date().toISOString();
      return result;
    };
    let pending: Promise<T>;
    try {
      pending = fn();
    } catch (err) {
      pending = Promise.reject(err);
    }
    // `then`, not `async`/`await`: the SDK captures a stack trace for every promise a workflow
    // creates, and an async wrapper makes two per step (its own and its await's) where this makes one.
    return pending.then(succeed, fail);
  }

  /** The opening step of most runs: resolve what the run works on, in the "planning" phase. */
  plan<T>(name: string, fn: () => Promise<T>): Promise<T> {
    this.phase = 'planning';
    return this.step(name, fn);
  }

  /** A step that yields check results; its outcome is the worst of them. */
  checkStep(name: string, fn: () => Promise<CheckResult[]>): Promise<CheckResult[]> {
    return this.step(name, fn, (results) => worstStatus(results.map((r) => r.status)));
  }

  async finish(options: FinishOptions): Promise<RunReport> {
    const checks = options.checks ?? [];
    const info = workflowInfo();
    const graded = worstStatus(checks.map((c) => c.status));
    this.outcome = options.outcome ?? (graded === 'skipped' ? 'ok' : graded);
    const summary = checks.length > 0 ? `${options.summary} (${summarizeChecks(checks)})` : options.summary;
    // Every item of the seed's checklist for this kind, once the run did its work: a finding, or a task left to people.
    const checklist = RAN.has(this.outcome) ? accountChecklist(this.kind, checks) : undefined;
    const report: RunReport = {
      workflowId: info.workflowId,
      runId: info.runId,
      kind: this.kind,
      target: this.target,
      outcome: this.outcome,
      startedAt: info.startTime.toISOString(),
      finishedAt: new Date().toISOString(),
      summary: checklist ? `${summary}; ${describeAccount(checklist)}` : summary,
      checks,
      steps: this.steps,
      approvals: this.approvals,
      details: options.details,
      ...(this.window ? { window: this.window } : {}),
      ...(checklist ? { checklist } : {}),
    };
    this.phase = 'reporting';
    const send = patched('report-delivery-local-activities') ? localBestEffortNotice : bestEffortNotice;
    const deliveries: DeliveryRecord[] = [
      options.postOnlyProblems && report.outcome === 'ok'
        ? { channel: 'slack', ok: true, detail: 'not posted: routine run with nothing to report' }
        : await deliver('slack', () => send.postSlackMessage(reportSlackMessage(report))),
    ];
    // Failures always alert; critical findings alert where the workflow asks (checks, not digests).
    if (
      report.outcome === 'failed' ||
      report.outcome === 'timed-out' ||
      (options.alertOnCritical && report.outcome === 'critical')
    ) {
      deliveries.push(await deliver('alert', () => send.postSlackAlert(alertSlackMessage(report))));
    }
    report.details = { ...report.details, deliveries };
    const stored = await deliver('report-store', () => send.persistRunReport(report).then(() => 'maintenance_runs'));
    deliveries.push(stored);
    // A run missing from maintenance_runs is missing from every digest and audit: someone must know.
    if (!stored.ok && patched('alert-unstored-report')) {
      deliveries.push(
        await deliver('alert', () =>
          send.postSlackAlert({
            text: `:rotating_light: the report of ${report.kind} ${report.workflowId} (${report.outcome}) could not be stored in maintenance_runs: ${stored.detail.slice(0, 500)}`,
          }),
        ),
      );
    }

    // Open tasks go to Slack with their buttons once the report is stored: the bridge reads the run from it.
    if (stored.ok && report.checklist?.openTasks && patched('checklist-task-posts')) {
      deliveries.push(
        await deliver('tasks', () => send.postChecklistTasks({ workflowId: report.workflowId, runId: report.runId })),
      );
    }

    const memoReport =
      JSON.stringify(report).length <= MEMO_REPORT_LIMIT ? report : { ...report, steps: [], details: undefined };
    upsertMemo({ summary: report.summary, outcome: report.outcome, deliveries, report: memoReport });
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.outcome, value: report.outcome }]);
    setCurrentDetails(reportMarkdown(report));
    this.phase = 'done';
    return report;
  }
}

/**
 * Runs `body` and reports. If the run breaks or is cancelled, `undo` runs (the compensations of a
 * workflow that has any, lib/saga.ts) and the report is still written, in a non-cancellable scope;
 * then the run fails with a non-retryable `<kind>Failed` that says what went wrong and what was
 * undone (or stays cancelled).
 */
export async function runReported(
  run: MaintenanceRun,
  body: () => Promise<FinishOptions>,
  undo: () => Promise<string[]> = async () => [],
): Promise<RunReport> {
  let options: FinishOptions;
  try {
    options = await body();
  } catch (err) {
    return CancellationScope.nonCancellable(async () => {
      const undone = await undo();
      // Bad input found on the way (a target that does not exist) fails as itself: nothing ran to report.
      if (isFailure(err, FailureType.InvalidInput)) throw err;
      const cancelled = isCancellation(err);
      const summary = `${cancelled ? 'Cancelled' : 'Failed'}: ${innermostMessage(err)}${undone.length ? `; compensated: ${undone.join(', ')}` : ''}`;
      await run.finish({ summary, outcome: cancelled ? 'cancelled' : 'failed', details: { compensated: undone } });
      if (cancelled) throw err;
      throw failure(runFailedType(run.kind), summary, { cause: err as Error });
    });
  }
  return run.finish(options);
}

/**
 * A routine workflow's opening, declared once per workflow module: each call checks the input
 * against `schema` (bad input fails the run before anything runs), starts the run as `kind` on
 * its fixed target, then runs `body` and reports it.
 */
export function reportedWorkflow<S extends z.ZodType>(kind: FixedTargetKind, schema: S) {
  return (
    rawInput: unknown,
    body: (run: MaintenanceRun, input: z.output<S>) => Promise<FinishOptions>,
  ): Promise<RunReport> => {
    const input = parseInput(schema, rawInput, kind);
    const run = new MaintenanceRun(kind, FIXED_TARGETS[kind]);
    return runReported(run, () => body(run, input));
  };
}

async function deliver(channel: DeliveryRecord['channel'], send: () => Promise<string>): Promise<DeliveryRecord> {
  try {
    return { channel, ok: true, detail: `delivered to ${await send()}` };
  } catch (err) {
    return { channel, ok: false, detail: innermostMessage(err) };
  }
}
