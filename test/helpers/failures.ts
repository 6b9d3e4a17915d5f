import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { expect } from 'vitest';

/** `err` is the non-retryable InvalidInput failure every bad input gets, naming `field`. */
export function expectInvalidInput(err: unknown, field: string): void {
  expect(err).toBeInstanceOf(ApplicationFailure);
  const failure = err as ApplicationFailure;
  expect(failure.type).toBe('InvalidInput');
  expect(failure.nonRetryable).toBe(true);
  expect(failure.message).toContain(field);
}

/** Starts `workflowType` with each bad input and expects it to fail at once naming the field. */
export async function expectWorkflowRejects(
  client: Client,
  taskQueue: string,
  workflowType: string,
  idPrefix: string,
  cases: readonly (readonly [unknown, string])[],
): Promise<void> {
  for (const [input, field] of cases) {
    const err = await client.workflow
      .execute(workflowType, { taskQueue, workflowId: `${idPrefix}-${Date.now()}`, args: [input] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expectInvalidInput((err as WorkflowFailedError).cause, field);
  }
}

/** What `p` rejects with, or undefined when it resolves. */
export const rejectionOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

/** The ApplicationFailure an activity called directly rejects with. */
export async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await rejectionOf(p);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

/** The failure a workflow ended with: `p` (its result) must reject with WorkflowFailedError. */
export async function workflowFailureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await rejectionOf(p);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause as ApplicationFailure;
}
