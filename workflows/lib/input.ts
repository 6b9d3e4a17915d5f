import type { z } from 'zod';
import { failure, FailureType } from '../../domain/failures.js';
import { describeInputIssues } from '../../domain/input-errors.js';
import { undecodableReason } from '../../domain/payload.js';

/**
 * Validates a workflow input once, at the edge. Bad input fails the run at once, non-retryable,
 * with every offending field named (and nothing large echoed), before any step has changed anything.
 */
export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, workflowType: string): z.output<S> {
  const undecodable = undecodableReason(raw);
  let problems: string[];
  if (undecodable !== undefined) {
    problems = [`(input): ${undecodable}`];
  } else {
    const result = schema.safeParse(raw ?? {});
    if (result.success) return result.data;
    problems = describeInputIssues(result.error.issues);
  }
  throw failure(FailureType.InvalidInput, `Invalid input for ${workflowType}: ${problems.join('; ')}`, {
    details: problems,
  });
}
