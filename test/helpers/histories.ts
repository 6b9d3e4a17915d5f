import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { RunReport } from '../../domain/run.js';
import { uniqueId } from './stack.js';

export const HISTORIES_DIR = join(import.meta.dirname, '..', 'histories');

/**
 * With RECORD_HISTORIES=1, stores a finished run's history for the replay test. Histories are
 * recorded once per released workflow version and committed; replaying them proves that changed
 * workflow code still makes the same decisions (or is guarded by `patched()`).
 */
export async function recordHistory(
  name: string,
  history: temporal.api.history.v1.IHistory,
  workflowId?: string,
): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  mkdirSync(HISTORIES_DIR, { recursive: true });
  // The workflow id is kept beside the events: workflows that derive child ids from it replay only under it.
  const json = { ...(JSON.parse(historyToJSON(history)) as object), ...(workflowId ? { workflowId } : {}) };
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), JSON.stringify(json, null, 2));
}

/** A stored history and the workflow id it ran under (the file name when none was kept). */
export function readHistory(file: string): { workflowId: string; history: unknown } {
  const { workflowId, ...history } = JSON.parse(readFileSync(join(HISTORIES_DIR, file), 'utf8')) as {
    workflowId?: string;
  };
  return { workflowId: workflowId ?? file.replace(/\.json$/, ''), history };
}

/**
 * Runs a scheduled workflow to its report and stores its history for the replay test
 * (RECORD_HISTORIES=1), under `name`: a changed command sequence records under a new one.
 */
export async function runAndRecord<A>(
  client: Client,
  type: string,
  workflow: (input: A) => Promise<RunReport>,
  taskQueue: string,
  input: A,
  name = type,
): Promise<RunReport> {
  const handle = await client.workflow.start(workflow, { taskQueue, workflowId: uniqueId(type), args: [input] });
  const report = await handle.result();
  await recordHistory(name, await handle.fetchHistory(), handle.workflowId);
  return report;
}
