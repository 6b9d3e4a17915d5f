// Benchmark-only workflows: the same ten no-op activities, bare (twice, under two names) and through our step wrapper.
import { proxyActivities } from '@temporalio/workflow';
import { MaintenanceRun } from '../workflows/lib/run.js';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });

export async function bareNoops(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await noop();
}

/** The same workflow under a second type name: its ratio to `bareNoops` is the measure's own noise (an A/A control). */
export const bareNoopsControl = bareNoops;

export async function wrappedNoops(n: number): Promise<void> {
  const run = new MaintenanceRun('benchmark', 'noop');
  for (let i = 0; i < n; i++) await run.step(`noop ${i}`, () => noop());
}
