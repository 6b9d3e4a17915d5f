import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { temporal } from '@temporalio/proto';

export const HISTORIES_DIR = join(import.meta.dirname, '..', 'histories');

/**
 * With RECORD_HISTORIES=1, stores a finished run's history for the replay test. Histories are
 * recorded once per released workflow version and committed; replaying them proves that changed
 * workflow code still makes the same decisions (or is guarded by `patched()`).
 */
export async function recordHistory(name: string, history: temporal.api.history.v1.IHistory): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), historyToJSON(history));
}
