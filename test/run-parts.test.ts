import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, inject, describe, expect, it } from 'vitest';
import { SEARCH_ATTRIBUTES, runningSearchAttributes, type RunStatus } from '../domain/run.js';
import { decideUpdate, statusQuery } from '../workflows/lib/definitions.js';
import { until } from './helpers/stack.js';
import { quietRuntime, testClient, uniqueTaskQueue } from './helpers/temporal.js';

// Parts of MaintenanceRun and ApprovalGate, each in a test-only workflow (test/workflows/run-parts.ts)
// on a worker of its own, so an ending hard to reach through a real procedure can be asserted directly.
describe('run parts', () => {
  const taskQueue = uniqueTaskQueue('parts');
  let client: Client;
  let connection: NativeConnection;
  let worker: Worker;
  let running: Promise<void>;

  beforeAll(async () => {
    quietRuntime();
    const { code } = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./workflows/run-parts.ts', import.meta.url)),
      logger: new DefaultLogger('WARN'),
    });
    connection = await NativeConnection.connect({ address: inject('temporalAddress') });
    client = await testClient();
    worker = await Worker.create({
      connection,
      namespace: inject('temporalNamespace'),
      taskQueue,
      workflowBundle: { code },
      activities: {
        answer: async () => 42,
        breakDown: async () => {
          throw ApplicationFailure.nonRetryable('activity broke', 'TestFailure');
        },
      },
    });
    running = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await running;
    await client?.connection.close();
    await connection?.close();
  });

  // MaintenanceRun.step chains on the step's promise rather than awaiting it (fewer promises for the
  // SDK's stack-trace hook): each way a step can end must still leave its record and rethrow.
  it('a step records ok, graded, failed, thrown-at-once and grade-threw endings, and rethrows the failures', async () => {
    const { steps, rethrown } = await client.workflow.execute('stepOutcomes', {
      taskQueue,
      workflowId: `${taskQueue}-steps`,
    });
    expect(rethrown).toBe(3);
    expect(steps.map((s: { name: string; outcome: string; detail?: string }) => [s.name, s.outcome, s.detail])).toEqual(
      [
        ['succeeds', 'ok', undefined],
        ['graded', 'warn', 'graded 42'],
        ['activity fails', 'failed', 'activity broke'],
        ['throws before any promise', 'failed', 'thrown at once'],
        ['grade throws', 'failed', 'grade broke'],
      ],
    );
    for (const s of steps as { startedAt: string; finishedAt?: string }[]) {
      expect(s.finishedAt, JSON.stringify(s)).toBeDefined();
      expect(Date.parse(s.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(s.startedAt));
    }
  });

  // Schedules and `maint emergency start` set the run's attributes at start; the plain CLI may not,
  // and a hand-made start may set wrong ones: the run's own values win at its first task.
  it('a run started with its search attributes sends no upsert for them; one started without them, or with a wrong one, sends one', async () => {
    const upserts = async (name: string, attributes?: ReturnType<typeof runningSearchAttributes>) => {
      const handle = await client.workflow.start('stepOutcomes', {
        taskQueue,
        workflowId: `${taskQueue}-attributes-${name}`,
        ...(attributes ? { typedSearchAttributes: attributes } : {}),
      });
      await handle.result();
      const { typedSearchAttributes } = await handle.describe();
      expect(
        [SEARCH_ATTRIBUTES.kind, SEARCH_ATTRIBUTES.target, SEARCH_ATTRIBUTES.outcome].map((k) =>
          typedSearchAttributes.get(k),
        ),
        name,
      ).toEqual(['test', 'steps', 'running']);
      const { events } = await handle.fetchHistory();
      return events!.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes).length;
    };
    expect(await upserts('set', runningSearchAttributes('test', 'steps'))).toBe(0);
    expect(await upserts('unset')).toBe(1);
    expect(await upserts('wrong-target', runningSearchAttributes('test', 'production-db'))).toBe(1);
  });

  // A decided gate and a lapsed one both refuse late decisions; the reason must say which happened.
  it('a decision after the gate lapsed is ignored as after its deadline, and recorded', async () => {
    const handle = await client.workflow.start('lapsedGate', {
      taskQueue,
      workflowId: `${taskQueue}-gate`,
      args: [300],
    });
    await until('the gate to lapse', async () => {
      const { approval } = await handle.query(statusQuery);
      return approval?.deadline !== '' && approval?.open === false;
    });
    expect(await handle.executeUpdate(decideUpdate, { args: [{ approver: 'bob', via: 'test' }] })).toEqual({
      verdict: 'ignored',
      reason: 'the approval gate is closed: its deadline passed',
      progress: '0 of 1 approval',
    });
    const status: RunStatus = await handle.query(statusQuery);
    expect(status.approvals.map((a) => [a.approver, a.ignored])).toEqual([
      ['bob (unverified)', 'the approval gate is closed: its deadline passed'],
    ]);
    await handle.signal('release');
    expect(await handle.result()).toBe('timed-out');
  });
});
