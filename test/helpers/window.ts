import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { openWindowUpdate } from '../../workflows/lib/definitions.js';

/** Opens the window a run waits for (the `openWindow` update), as the people running it would. */
export const openWindow = (handle: WorkflowHandle, by = 'test-operator', reason = 'the test opens it') =>
  handle.executeUpdate(openWindowUpdate, { args: [{ by, reason }] });

/** Why the run refused an `openWindow` update (its validator's message); fails when it was accepted. */
export async function openWindowRefusal(handle: WorkflowHandle, input: unknown): Promise<string> {
  const err = await handle.executeUpdate(openWindowUpdate, { args: [input as never] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowUpdateFailedError))
    throw new Error(`openWindow ${JSON.stringify(input)} was not refused: ${String(err)}`);
  return (err.cause as Error).message;
}
