import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { SCHEDULES, type ManagedSchedule } from '../schedules/definitions.js';
import { MANAGED_BY, applySchedules } from '../schedules/apply.js';
import { SEED_WINDOWS, windowOccurrences, type WindowSpec } from '../domain/windows.js';
import { SEARCH_ATTRIBUTES } from '../domain/run.js';
import { temporalEnv, testClient, uniqueTaskQueue } from './helpers/temporal.js';

const exec = promisify(execFile);

/** Runs the real `maint` binary against the test server; resolves with its exit code and output. */
async function maint(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['bin/maint.js', ...args], {
      env: { ...process.env, ...temporalEnv(), MAINT_CONFIG: '' },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// Schedules are namespace-wide, so everything that applies them lives in this one file.
describe('schedules as code', () => {
  let client: Client;
  const taskQueue = uniqueTaskQueue('sched');
  const extra: ManagedSchedule = {
    id: `test-extra-${Date.now()}`,
    workflowType: 'dailyHealthCheck',
    summary: 'temporary',
    checklist: ['nothing'],
    calendars: [{ hour: 3 }],
    overlap: ScheduleOverlapPolicy.SKIP,
    catchupWindow: '1 minute',
  };
  const foreignId = `someone-elses-${Date.now()}`;

  beforeAll(async () => {
    client = await testClient();
    await client.schedule.create({
      scheduleId: foreignId,
      spec: { calendars: [{ hour: 4 }] },
      action: { type: 'startWorkflow', workflowType: 'dailyHealthCheck', taskQueue, args: [{}] },
    });
  });
  afterAll(async () => {
    for (const id of [...SCHEDULES.map((s) => s.id), extra.id, foreignId])
      await client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await client.connection.close();
  });

  it('creates, then reports every schedule unchanged on a second apply', async () => {
    const first = await applySchedules(client, [...SCHEDULES, extra], { taskQueue });
    expect(
      first
        .filter((r) => r.action === 'created')
        .map((r) => r.id)
        .sort(),
    ).toEqual([...SCHEDULES.map((s) => s.id), extra.id].sort());
    const second = await applySchedules(client, [...SCHEDULES, extra], { taskQueue });
    expect(second.every((r) => r.action === 'unchanged')).toBe(true);
    expect(second).toHaveLength(SCHEDULES.length + 1);
  });

  it("tries a describe again when the server's answer comes too late (DEADLINE_EXCEEDED), and names the reason when it never comes", async () => {
    // The next `late` DescribeSchedule calls get a deadline already past: gRPC ends them with
    // DEADLINE_EXCEEDED, as the server does while its schedule worker starts.
    let late = 0;
    const lateDescribes: Interceptor = (options, nextCall) =>
      new InterceptingCall(
        nextCall(
          options.method_definition.path.endsWith('/DescribeSchedule') && late-- > 0
            ? { ...options, deadline: Date.now() - 1 }
            : options,
        ),
      );
    const connection = await Connection.connect({ address: inject('temporalAddress'), interceptors: [lateDescribes] });
    const slow = new Client({ connection, namespace: inject('temporalNamespace') });
    try {
      await applySchedules(client, [...SCHEDULES, extra], { taskQueue });
      late = 2;
      const results = await applySchedules(slow, [...SCHEDULES, extra], { taskQueue });
      expect(late).toBe(-results.length); // both late describes were tried again, then one each
      expect(results.every((r) => r.action === 'unchanged')).toBe(true);

      late = 3;
      const failed = await applySchedules(slow, [...SCHEDULES, extra], { taskQueue }).catch((err: Error) => err);
      expect(String(failed)).toMatch(
        new RegExp(
          `^Error: schedule ${SCHEDULES[0]!.id}: Failed to describe schedule: Deadline exceeded.* \\(3 attempts\\)$`,
        ),
      );
    } finally {
      await connection.close();
    }
  });

  it('gives up a describe that outlasts its bound and tries it again, rather than waiting for the server', async () => {
    // The request of the next `held` DescribeSchedule calls is sent only after 6 s: the server has
    // no answer before then, as when its query waits; each attempt may take 2 s here.
    let held = 0;
    let describes = 0;
    const heldDescribes: Interceptor = (options, nextCall) => {
      if (!options.method_definition.path.endsWith('/DescribeSchedule')) return new InterceptingCall(nextCall(options));
      describes++;
      const hold = held-- > 0;
      return new InterceptingCall(nextCall(options), {
        sendMessage: (message, next) => (hold ? setTimeout(() => next(message), 6_000) : next(message)),
      });
    };
    const connection = await Connection.connect({ address: inject('temporalAddress'), interceptors: [heldDescribes] });
    const slow = new Client({ connection, namespace: inject('temporalNamespace') });
    try {
      await applySchedules(client, [...SCHEDULES, extra], { taskQueue });
      held = 2;
      const results = await applySchedules(slow, [...SCHEDULES, extra], {
        taskQueue,
        describeAttemptsMs: [2_000, 2_000, 2_000],
      });
      expect(results.every((r) => r.action === 'unchanged')).toBe(true);
      // Two attempts given up (the first schedule's twice), then one each (more if this machine
      // is so loaded that an answer takes 2 s); without the bound the held ones simply answer late.
      expect(describes).toBeGreaterThanOrEqual(results.length + 2);
    } finally {
      await connection.close();
    }
  });

  // The seed calendar, as one-minute "windows" computed by our own window math (not Temporal's).
  const minute = { durationMinutes: 1 } as const;
  const SEED_CALENDAR: Record<string, { spec: WindowSpec | WindowSpec[]; months?: number[]; skipDays?: string[] }> = {
    'daily-health-check': { spec: { name: 'x', every: 'day', start: '08:00', ...minute } },
    'evening-status': { spec: { name: 'x', every: 'day', start: '18:00', ...minute } },
    'app-cache-cleanup': {
      spec: ['00:00', '06:00', '12:00', '18:00'].map((start) => ({
        name: 'x',
        every: 'day' as const,
        start,
        ...minute,
      })),
    },
    'storage-cleanup': { spec: { name: 'x', every: 'day', start: '01:00', ...minute } },
    // Not a seed job: the hourly follow-up of checklist tasks nobody answered (issue 20).
    'checklist-follow-up': {
      spec: Array.from({ length: 24 }, (_, h) => ({
        name: 'x',
        every: 'day' as const,
        start: `${String(h).padStart(2, '0')}:30`,
        ...minute,
      })),
    },
    'app-update-weekly': { spec: { name: 'x', every: 'week', dayOfWeek: 0, start: '03:00', ...minute } },
    // The seed's disk_cleanup.sh names no time: daily 05:00, after the night's backup and cleanups (issue 13).
    'node-disk-cleanup': { spec: { name: 'x', every: 'day', start: '05:00', ...minute } },
    'cluster-storage-cleanup': { spec: { name: 'x', every: 'week', dayOfWeek: 0, start: '04:00', ...minute } },
    'daily-backup': { spec: { name: 'x', every: 'day', start: '01:00', ...minute }, skipDays: ['12-25', '12-26'] },
    'weekly-db-maintenance': { spec: { name: 'x', every: 'week', dayOfWeek: 0, start: '01:00', ...minute } },
    'weekly-system-review': { spec: { name: 'x', every: 'week', dayOfWeek: 1, start: '09:00', ...minute } },
    'weekly-security-review': { spec: { name: 'x', every: 'week', dayOfWeek: 3, start: '10:00', ...minute } },
    'weekly-performance-review': { spec: { name: 'x', every: 'week', dayOfWeek: 5, start: '14:00', ...minute } },
    'monthly-audit': { spec: { name: 'x', every: 'month', nth: 1, dayOfWeek: 1, start: '09:00', ...minute } },
    'monthly-app-maintenance': { spec: { name: 'x', every: 'month', nth: 3, dayOfWeek: 1, start: '09:00', ...minute } },
    'quarterly-review': {
      spec: { name: 'x', every: 'month', nth: -1, dayOfWeek: 5, start: '09:00', ...minute },
      months: [2, 5, 8, 11],
    },
    'annual-upgrade': { spec: { name: 'x', every: 'year', month: 6, day: 25, start: '00:00', ...minute } },
  };

  it('has every SPEC schedule id (and the seed CronJobs app-cache-cleanup, storage-cleanup, app-update-weekly, cluster-storage-cleanup), and each fires its next five times exactly at the seed calendar', async () => {
    expect(SCHEDULES.map((s) => s.id).sort()).toEqual(Object.keys(SEED_CALENDAR).sort());
    for (const s of SCHEDULES) {
      const d = await client.schedule.getHandle(s.id).describe();
      const next = d.info.nextActionTimes.slice(0, 5).map((t) => t.toISOString());
      const { spec, months, skipDays } = SEED_CALENDAR[s.id]!;
      const expected = windowOccurrences([spec].flat(), new Date(), new Date(Date.now() + 6 * 366 * 86_400_000))
        .filter(
          (o) => Date.parse(o.start) > Date.now() && (!months || months.includes(new Date(o.start).getUTCMonth())),
        )
        .filter((o) => !skipDays?.includes(o.start.slice(5, 10)))
        .slice(0, 5)
        .map((o) => o.start);
      expect(next, s.id).toEqual(expected);
      expect(d.policies.overlap, s.id).toBe(ScheduleOverlapPolicy.SKIP);
      expect(d.memo?.managedBy).toBe(MANAGED_BY);
      // What the UI shows for every fired run: its summary and its checklist.
      expect(d.action).toMatchObject({
        staticSummary: s.summary,
        staticDetails: expect.stringMatching(/^- .+(\n- .+)*$/),
      });
    }
  });

  it('daily-backup fires outside every seed maintenance window (skipping the annual one), and before the Sunday window opens', async () => {
    const { spec, skipDays } = SEED_CALENDAR['daily-backup']!;
    // Each firing, with the hour a dump of the demo database takes at most, for a year.
    const fires = windowOccurrences(
      [{ ...(spec as WindowSpec), durationMinutes: 60 }],
      new Date(),
      new Date(Date.now() + 366 * 86_400_000),
    ).filter((o) => !skipDays!.includes(o.start.slice(5, 10)));
    expect(fires.length).toBeGreaterThan(360);
    // The server skips what the spec says: the same spec starting Dec 24 (a paused copy that never
    // runs) next fires Dec 24, then Dec 27.
    const backupSchedule = SCHEDULES.find((x) => x.id === 'daily-backup')!;
    const thisYear = new Date().getUTCFullYear();
    // A December 24 still ahead, so startAt decides where the listing begins.
    const year = Date.now() < Date.UTC(thisYear, 11, 23) ? thisYear : thisYear + 1;
    const copy = await client.schedule.create({
      scheduleId: `test-skip-${Date.now()}`,
      state: { paused: true },
      spec: {
        calendars: backupSchedule.calendars,
        skip: backupSchedule.skip,
        timezone: 'UTC',
        startAt: new Date(Date.UTC(year, 11, 24)),
      },
      action: { type: 'startWorkflow', workflowType: 'dailyBackup', taskQueue, args: [{}] },
    });
    try {
      const next = (await copy.describe()).info.nextActionTimes.slice(0, 3).map((t) => t.toISOString());
      expect(next).toEqual([
        `${year}-12-24T01:00:00.000Z`,
        `${year}-12-27T01:00:00.000Z`,
        `${year}-12-28T01:00:00.000Z`,
      ]);
    } finally {
      await copy.delete();
    }
    for (const f of fires) {
      expect(windowOccurrences(SEED_WINDOWS, new Date(f.start), new Date(f.end)), f.start).toEqual([]);
    }
  });

  it('updates what drifted, keeps a paused schedule paused, deletes what code dropped, leaves others alone', async () => {
    await client.schedule.getHandle(extra.id).pause('operator pause');
    const moved = { ...extra, calendars: [{ hour: 5, minute: 30 }] };
    const results = await applySchedules(client, [...SCHEDULES, moved], { taskQueue });
    expect(results.find((r) => r.id === extra.id)?.action).toBe('updated');
    const d = await client.schedule.getHandle(extra.id).describe();
    expect(d.state.paused).toBe(true);
    expect(d.info.nextActionTimes[0]?.getUTCHours()).toBe(5);
    expect(d.info.nextActionTimes[0]?.getUTCMinutes()).toBe(30);

    const dryRun = await applySchedules(client, SCHEDULES, { taskQueue, dryRun: true });
    expect(dryRun.find((r) => r.id === extra.id)?.action).toBe('deleted');
    await client.schedule.getHandle(extra.id).describe(); // still there after a dry run

    const pruned = await applySchedules(client, SCHEDULES, { taskQueue });
    expect(pruned.find((r) => r.id === extra.id)?.action).toBe('deleted');
    expect(pruned.find((r) => r.id === foreignId)).toBeUndefined();
    await expect(client.schedule.getHandle(extra.id).describe()).rejects.toThrow();
    await expect(client.schedule.getHandle(foreignId).describe()).resolves.toBeTruthy();
  });

  it('maint pauses, triggers and lists schedules; bad input is one line and a non-zero exit', async () => {
    const paused = await maint('schedules', 'pause', 'evening-status', '--note', 'change freeze');
    expect(paused).toMatchObject({ code: 0 });
    const list = await maint('schedules', 'list', '--json');
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as { schedule: string; paused: boolean; note: string }[];
    expect(rows.find((r) => r.schedule === 'evening-status')).toMatchObject({ paused: true, note: 'change freeze' });
    expect((await maint('schedules', 'unpause', 'evening-status')).code).toBe(0);
    expect((await client.schedule.getHandle('evening-status').describe()).state.paused).toBe(false);

    const before = (await client.schedule.getHandle('evening-status').describe()).info.numActionsTaken;
    const triggered = await maint('schedules', 'trigger', 'evening-status');
    expect(triggered.code).toBe(0);
    // The run it started, by the id the server gave it.
    const run = triggered.stdout.match(/^evening-status: triggered, workflow (evening-status-\S+)$/m)?.[1];
    const fired = await client.workflow.getHandle(run!).describe();
    expect(fired.type).toBe('eveningStatus');
    // No worker polls this queue: the kind, target and outcome come from the schedule, at start.
    expect(
      [SEARCH_ATTRIBUTES.kind, SEARCH_ATTRIBUTES.target, SEARCH_ATTRIBUTES.outcome].map((k) =>
        fired.typedSearchAttributes.get(k),
      ),
    ).toEqual(['eveningStatus', 'booking-platform', 'running']);
    await expect
      .poll(async () => (await client.schedule.getHandle('evening-status').describe()).info.numActionsTaken, {
        timeout: 30_000,
      })
      .toBe(before + 1);

    const unknown = await maint('schedules', 'trigger', 'nightly-party');
    expect(unknown.code).not.toBe(0);
    expect(
      unknown.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('maint:')),
    ).toEqual(["maint: unknown schedule 'nightly-party' (known: " + SCHEDULES.map((s) => s.id).join(', ') + ')']);

    const missing = await maint('status', 'no-such-workflow');
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n').at(-1)).toBe(
      `maint: no workflow 'no-such-workflow' in namespace ${inject('temporalNamespace')}`,
    );

    const badDate = await maint('runs', '--since', 'yesterday-ish');
    expect(badDate.code).not.toBe(0);
    expect(badDate.stderr).toContain("'yesterday-ish' is not a date");
  });
});
