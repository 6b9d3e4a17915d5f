// Test-only workflow: MaintenanceRun.step on each way a step can end, the records it leaves.
import { proxyActivities } from '@temporalio/workflow';
import type { StepRecord } from '../../domain/run.js';
import { MaintenanceRun } from '../../workflows/lib/run.js';

const { answer, breakDown } = proxyActivities<{ answer(): Promise<number>; breakDown(): Promise<number> }>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

export async function stepOutcomes(): Promise<{ steps: StepRecord[]; rethrown: number }> {
  const run = new MaintenanceRun('test', 'steps');
  await run.step('succeeds', () => answer());
  await run.step(
    'graded',
    () => answer(),
    (n) => ({ outcome: 'warn', detail: `graded ${n}` }),
  );
  const failing: [string, () => Promise<number>, ((n: number) => 'ok')?][] = [
    ['activity fails', () => breakDown()],
    [
      'throws before any promise',
      () => {
        throw new Error('thrown at once');
      },
    ],
    [
      'grade throws',
      () => answer(),
      () => {
        throw new Error('grade broke');
      },
    ],
  ];
  let rethrown = 0;
  for (const [name, fn, grade] of failing) {
    try {
      await run.step(name, fn, grade);
    } catch {
      rethrown++;
    }
  }
  return { steps: run.steps, rethrown };
}
