import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);

describe('docker-compose.yml', () => {
  it('is valid for docker-compose and runs the production-shaped stack (no dev server)', async () => {
    const { stdout } = await exec('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      env: { ...process.env, SLACK_WEBHOOK_URL: 'https://hooks.example/secret' },
    });
    for (const service of [
      'temporal-db:',
      'temporal:',
      'temporal-ui:',
      'booking-db:',
      'worker:',
      'bridge:',
      'schedules:',
    ])
      expect(stdout).toContain(`  ${service}`);
    expect(stdout).not.toContain('start-dev');
    expect(stdout).toContain('DB: postgres12');
  });
});

describe('the compiled CLI (what the image runs)', () => {
  it('bin/maint.js runs dist/ under NODE_ENV=production: help, and an unknown schedule is one line and exit 1, before connecting', async () => {
    await exec('npx', ['tsc', '-p', 'tsconfig.build.json'], { timeout: 180_000 });
    const env = { ...process.env, NODE_ENV: 'production', MAINT_CONFIG: '' };
    const help = await exec(process.execPath, ['bin/maint.js', '--help'], { env });
    expect(help.stdout).toMatch(/^Usage: maint \[options\] \[command\]/);
    expect(help.stdout).toContain('approve [options] <workflowId>');
    const bad = await exec(process.execPath, ['bin/maint.js', 'schedules', 'trigger', 'nightly-party'], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr).toMatch(/^maint: unknown schedule 'nightly-party'/m);
  }, 240_000);
});
