import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);

describe('docker-compose.yml', () => {
  it('is valid for docker-compose and runs the production-shaped stack (no dev server)', async () => {
    const { stdout } = await exec('docker-compose', ['-f', 'docker-compose.yml', 'config'], { env: { ...process.env, SLACK_WEBHOOK_URL: 'https://hooks.example/secret' } });
    for (const service of ['temporal-db:', 'temporal:', 'temporal-ui:', 'booking-db:', 'worker:', 'bridge:', 'schedules:']) expect(stdout).toContain(`  ${service}`);
    expect(stdout).not.toContain('start-dev');
    expect(stdout).toContain('DB: postgres12');
  });
});
