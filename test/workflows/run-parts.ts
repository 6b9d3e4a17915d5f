// Test-only workflows: parts of MaintenanceRun and ApprovalGate in runs of their own.
import { condition, defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { StepRecord } from '../../domain/run.js';
import { ApprovalGate } from '../../workflows/lib/approval.js';
import { MaintenanceRun } from '../../workflows/lib/run.js';

const { answer, breakDown } = proxyActivities<{ answer(): Promise<number>; breakDown(): Promise<number> }>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

/** MaintenanceRun.step on each way a step can end, the records it leaves. */
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

export const releaseSignal = defineSignal('release');

/** An approval gate left to lapse; the run stays open (until released) so a late decision can still reach it. */
export async function lapsedGate(timeoutMs: number): Promise<string> {
  const run = new MaintenanceRun('test', 'gate');
  const gate = new ApprovalGate(run, { approvers: ['bob'], required: 1 }, { kind: 'test', actions: ['nothing'] });
  let released = false;
  setHandler(releaseSignal, () => void (released = true));
  const decision = await gate.wait({ escalateAfterMs: timeoutMs / 2, timeoutMs }, async () => {});
  await condition(() => released);
  return decision.outcome;
}
