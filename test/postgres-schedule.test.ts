import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SCHEDULES } from '../schedules/definitions.js';
import { activeWindow, SEED_WINDOWS } from '../domain/windows.js';
import { testClient } from './helpers/temporal.js';

describe('schedule weekly-db-maintenance', () => {
  it('fires Sundays at 01:00 UTC, one hour before each weekly window opens, as the server computes it', async () => {
    const def = SCHEDULES.find((s) => s.id === 'weekly-db-maintenance')!;
    expect(def.workflowType).toBe('weeklyDatabaseMaintenance');
    const weekly = SEED_WINDOWS.find((w) => w.name === 'weekly')!;
    const client = await testClient();
    const handle = await client.schedule.create({
      scheduleId: `${def.id}-spec-${randomBytes(3).toString('hex')}`,
      spec: { calendars: def.calendars, timezone: 'UTC' },
      action: {
        type: 'startWorkflow',
        workflowType: def.workflowType,
        taskQueue: 'unused-by-a-paused-schedule',
        args: [def.input ?? {}],
      },
      policies: { overlap: def.overlap, catchupWindow: def.catchupWindow },
      state: { paused: true },
    });
    try {
      const { info } = await handle.describe();
      expect(info.nextActionTimes.length).toBeGreaterThanOrEqual(3);
      for (const fire of info.nextActionTimes) {
        expect([fire.getUTCDay(), fire.getUTCHours(), fire.getUTCMinutes()]).toEqual([0, 1, 0]);
        const opens = new Date(fire.getTime() + 3_600_000);
        expect(activeWindow(weekly, fire)).toBeUndefined();
        expect(activeWindow(weekly, opens)?.start).toBe(opens.toISOString());
      }
    } finally {
      await handle.delete();
      await client.connection.close();
    }
  });
});
