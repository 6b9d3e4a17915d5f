// The seed's disk item ("Check disk space utilization (< 85%)") on the filesystems it may be pointed at.
import { describe, expect, it } from 'vitest';
import { createStorageActivities } from '../activities/storage.js';
import { DEFAULT_THRESHOLDS } from '../domain/thresholds.js';

describe('the disk check', () => {
  it('grades a real filesystem and refuses, naming why, one with no blocks instead of reporting NaN', async () => {
    const [root, proc] = await createStorageActivities().checkDiskUsage(['/', '/proc'], DEFAULT_THRESHOLDS);
    expect(root).toMatchObject({ check: 'disk', target: '/', unit: '%' });
    expect(root!.value).toBeGreaterThan(0);
    expect(root!.value).toBeLessThanOrEqual(100);
    expect(proc).toMatchObject({ check: 'disk', target: '/proc', status: 'critical' });
    expect(proc!.value).toBeUndefined();
    expect(proc!.detail).toMatch(/^cannot stat \/proc: the filesystem holding \/proc reports no blocks/);
  });
});
