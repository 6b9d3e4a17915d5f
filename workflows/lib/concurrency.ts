export interface ItemOutcome<T, R> {
  item: T;
  started: boolean;
  result?: R;
  error?: unknown;
}

/**
 * Runs `fn` for each item in order, at most `limit` at a time, and starts no new item once one
 * has failed (those already running finish). Deterministic: safe in workflow code.
 */
export async function inTurnUntilFailure<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<ItemOutcome<T, R>[]> {
  const outcomes: ItemOutcome<T, R>[] = items.map((item) => ({ item, started: false }));
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < outcomes.length) {
      const outcome = outcomes[next++]!;
      outcome.started = true;
      try {
        outcome.result = await fn(outcome.item);
      } catch (err) {
        outcome.error = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return outcomes;
}
