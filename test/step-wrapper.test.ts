import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { DefaultLogger, NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { inject, describe, expect, it } from 'vitest';
import { quietRuntime, testClient, uniqueTaskQueue } from './helpers/temporal.js';

// MaintenanceRun.step chains on the step's promise rather than awaiting it (fewer promises for the
// SDK's stack-trace hook): each way a step can end must still leave its record and rethrow.
describe('MaintenanceRun.step', () => {
  it('records ok, graded, failed, thrown-at-once and grade-threw steps, and rethrows the failures', async () => {
    quietRuntime();
    const { code } = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./workflows/step-outcomes.ts', import.meta.url)),
      logger: new DefaultLogger('WARN'),
    });
    const taskQueue = uniqueTaskQueue('steps');
    const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
    const client = await testClient();
    try {
      const worker = await Worker.create({
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
      const { steps, rethrown } = await worker.runUntil(
        client.workflow.execute('stepOutcomes', { taskQueue, workflowId: `${taskQueue}-run` }),
      );
      expect(rethrown).toBe(3);
      expect(
        steps.map((s: { name: string; outcome: string; detail?: string }) => [s.name, s.outcome, s.detail]),
      ).toEqual([
        ['succeeds', 'ok', undefined],
        ['graded', 'warn', 'graded 42'],
        ['activity fails', 'failed', 'activity broke'],
        ['throws before any promise', 'failed', 'thrown at once'],
        ['grade throws', 'failed', 'grade broke'],
      ]);
      for (const s of steps as { startedAt: string; finishedAt?: string }[]) {
        expect(s.finishedAt, JSON.stringify(s)).toBeDefined();
        expect(Date.parse(s.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(s.startedAt));
      }
    } finally {
      await client.connection.close();
      await connection.close();
    }
  });
});
