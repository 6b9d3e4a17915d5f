import { readdirSync } from 'node:fs';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import * as workflows from '../workflows/index.js';
import { HISTORIES_DIR, readHistory } from './helpers/histories.js';
import { workflowBundle } from './helpers/temporal.js';

// Histories recorded from real runs (RECORD_HISTORIES=1 npm test). A workflow change that would
// decide differently on replay fails here; guard such changes with patched().
describe('replay of stored histories', () => {
  const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

  it('has a stored history for every workflow type the worker registers', () => {
    const stored = new Set(
      files.map((f) => {
        const { history } = readHistory(f);
        return (
          history as { events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] }
        ).events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
      }),
    );
    const registered = Object.keys(workflows).sort();
    expect(registered.length).toBeGreaterThan(15);
    expect(registered.filter((type) => !stored.has(type))).toEqual([]);
    // Since patch 'signed-approvals', beside the name-based histories.
    expect(files).toEqual(
      expect.arrayContaining([
        'emergencyMaintenance-signed.json',
        'annualUpgrade-signed.json',
        'annualUpgrade-blackout-signed.json',
      ]),
    );
  });

  it('replays every stored history without nondeterminism', async () => {
    const histories = files.map((f) => {
      const { workflowId, history } = readHistory(f);
      return { workflowId, history: historyFromJSON(history) };
    });
    const results = [];
    for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories))
      results.push(r);
    expect(results).toHaveLength(files.length);
    for (const r of results) expect(r.error, `${r.workflowId}: ${String(r.error)}`).toBeUndefined();
  });
});
