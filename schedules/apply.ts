import { createHash } from 'node:crypto';
import { ScheduleNotFoundError, type Client, type ScheduleHandle, type ScheduleOptions } from '@temporalio/client';
import { SEARCH_ATTRIBUTES, startSearchAttributes } from '../domain/run.js';
import type { ManagedSchedule } from './definitions.js';

export const MANAGED_BY = 'trixtech-maintenance';

export type ApplyAction = 'created' | 'updated' | 'deleted' | 'unchanged';
export interface ApplyResult {
  id: string;
  action: ApplyAction;
}

export interface ApplyOptions {
  taskQueue: string;
  /** Report what would change without changing anything. */
  dryRun?: boolean;
  /** How long each describe attempt of a schedule may take, in order: as many attempts as bounds (default 2 s, 10 s, 30 s). */
  describeAttemptsMs?: readonly number[];
}

/**
 * Describing a schedule queries its own workflow on the server. While the server's internal worker
 * starts (a dev server restarted on its database file, as `npm run up` does) that query can wait
 * until the call's deadline, 30 s by default (temporalio/temporal#7037), and a second try is
 * answered at once: a stall lasted as long as the attempt's bound, 30 s and then 10 s. An answer
 * takes well under a second otherwise. So the first attempt is given up after 2 s, and each
 * further one is allowed longer: a server that is merely slow (a loaded machine) still has 42 s.
 */
const DESCRIBE_ATTEMPTS_MS = [2_000, 10_000, 30_000] as const;
const GRPC_CANCELLED = 1;
const GRPC_DEADLINE_EXCEEDED = 4;

/** The schedule's description, undefined when there is none; a failure names the server's reason (the client's message alone does not). */
async function describeIfExists(handle: ScheduleHandle, id: string, attemptsMs: readonly number[]) {
  for (let attempt = 1; ; attempt++) {
    const deadline = Date.now() + attemptsMs[attempt - 1]!;
    try {
      return await handle.client.withDeadline(deadline, () => handle.describe());
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return undefined;
      const cause = (err as { cause?: { code?: number; details?: string; message?: string } }).cause;
      // The server also holds the attempt's deadline: when its timer ends the call first, it
      // resets the stream, which gRPC reports as CANCELLED rather than DEADLINE_EXCEEDED. The
      // 100 ms allow for the two clocks' timers ending in either order.
      const late =
        cause?.code === GRPC_DEADLINE_EXCEEDED || (cause?.code === GRPC_CANCELLED && Date.now() >= deadline - 100);
      if (late && attempt < attemptsMs.length) continue;
      const reason = cause?.details ?? cause?.message;
      const tries = attempt > 1 ? ` (${attempt} attempts)` : '';
      throw new Error(`schedule ${id}: ${(err as Error).message}${reason ? `: ${reason}` : ''}${tries}`, {
        cause: err,
      });
    }
  }
}

/** A fingerprint of everything we manage on a schedule; stored in the action memo to detect drift cheaply. */
export function scheduleRevision(s: ManagedSchedule, taskQueue: string): string {
  // The attributes derived from the kind are managed too: when their derivation changes, apply rewrites the schedule.
  const attributes = startSearchAttributes(s.workflowType).map(({ key, value }) => [key.name, value]);
  const canonical = JSON.stringify({ ...s, taskQueue, attributes }, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

function toScheduleOptions(s: ManagedSchedule, taskQueue: string): ScheduleOptions {
  return {
    scheduleId: s.id,
    spec: { calendars: s.calendars, ...(s.skip ? { skip: s.skip } : {}), timezone: 'UTC' },
    action: {
      type: 'startWorkflow',
      workflowType: s.workflowType,
      taskQueue,
      args: [s.input ?? {}],
      // Every fired run is id'd "<schedule id>-<fire time>" by the server, and findable by kind
      // (and target, for a kind whose target is fixed) from the moment it is fired.
      workflowId: s.id,
      staticSummary: s.summary,
      staticDetails: s.checklist.map((item) => `- ${item}`).join('\n'),
      memo: { schedule: s.id, scheduleRevision: scheduleRevision(s, taskQueue) },
      typedSearchAttributes: startSearchAttributes(s.workflowType),
    },
    policies: { overlap: s.overlap, catchupWindow: s.catchupWindow, pauseOnFailure: false },
    memo: { managedBy: MANAGED_BY },
  };
}

/** Registers our search attributes where they are missing (a production cluster; the dev server gets them at start). */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<void> {
  const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace });
  const missing = Object.values(SEARCH_ATTRIBUTES).filter((k) => !(customAttributes && k.name in customAttributes));
  if (missing.length === 0) return;
  await client.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((k) => [k.name, 2 /* INDEXED_VALUE_TYPE_KEYWORD */])),
  });
}

/**
 * Makes the server's schedules match `desired`: creates what is missing, updates what drifted
 * (keeping a paused schedule paused), deletes schedules we manage that code no longer has, and
 * never touches schedules created by anyone else. Running it twice changes nothing the second time.
 */
export async function applySchedules(
  client: Client,
  desired: readonly ManagedSchedule[],
  options: ApplyOptions,
): Promise<ApplyResult[]> {
  const ids = new Set<string>();
  for (const s of desired) {
    if (ids.has(s.id)) throw new Error(`schedule id ${s.id} is defined twice`);
    ids.add(s.id);
  }
  const results: ApplyResult[] = [];
  for (const s of desired) {
    const handle = client.schedule.getHandle(s.id);
    const wanted = toScheduleOptions(s, options.taskQueue);
    const current = await describeIfExists(handle, s.id, options.describeAttemptsMs ?? DESCRIBE_ATTEMPTS_MS);
    if (!current) {
      if (!options.dryRun) await client.schedule.create(wanted);
      results.push({ id: s.id, action: 'created' });
      continue;
    }
    if (current.memo?.managedBy !== MANAGED_BY) {
      throw new Error(`schedule ${s.id} exists but was not created by ${MANAGED_BY}; refusing to take it over`);
    }
    const currentRevision = current.action.type === 'startWorkflow' ? current.action.memo?.scheduleRevision : undefined;
    if (currentRevision === scheduleRevision(s, options.taskQueue)) {
      results.push({ id: s.id, action: 'unchanged' });
      continue;
    }
    if (!options.dryRun) {
      await handle.update((prev) => ({
        ...prev,
        spec: wanted.spec,
        action: wanted.action,
        policies: { ...prev.policies, ...wanted.policies },
        state: { ...prev.state },
      }));
    }
    results.push({ id: s.id, action: 'updated' });
  }
  for await (const summary of client.schedule.list()) {
    if (summary.memo?.managedBy !== MANAGED_BY || ids.has(summary.scheduleId)) continue;
    if (!options.dryRun) {
      // The list is eventually consistent: a schedule deleted a moment ago may still be listed.
      await client.schedule
        .getHandle(summary.scheduleId)
        .delete()
        .catch((err: unknown) => {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
        });
    }
    results.push({ id: summary.scheduleId, action: 'deleted' });
  }
  return results;
}

/**
 * Starts the schedule's workflow now, as if it fired, and returns the id the server gave the run
 * (`<schedule id>-<time>`), or undefined when none showed up within `waitMs`. The run is found
 * through visibility, among the schedule's runs of the last ten minutes: a describe would query the
 * schedule's own workflow, busy with the trigger itself, which a restarted dev server left
 * unanswered for 30 s (see DESCRIBE_ATTEMPTS_MS).
 */
export async function triggerSchedule(
  client: Client,
  scheduleId: string,
  waitMs = 10_000,
): Promise<string | undefined> {
  const query = `TemporalScheduledById = '${scheduleId.replaceAll("'", "\\'")}' AND StartTime > '${new Date(Date.now() - 10 * 60_000).toISOString()}'`;
  const runs = async () => {
    const ids = new Set<string>();
    for await (const run of client.workflow.list({ query })) ids.add(run.workflowId);
    return ids;
  };
  const before = await runs();
  await client.schedule.getHandle(scheduleId).trigger();
  for (const deadline = Date.now() + waitMs; Date.now() < deadline;) {
    const started = [...(await runs())].find((id) => !before.has(id));
    if (started) return started;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}
