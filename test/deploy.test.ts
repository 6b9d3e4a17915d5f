import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { loadYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { SERVER_DYNAMIC_CONFIG } from '../dev/devserver.js';
import { WORKER_NODE_ENV, WORKER_NODE_FLAGS } from '../src/worker-node-options.js';

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

  it("mounts the server dynamic config the dev server starts with (tests and npm run up run production's settings)", () => {
    const production = loadYaml<Record<string, { value: unknown }[]>>(
      readFileSync('deploy/temporal/dynamicconfig.yaml', 'utf8'),
    );
    for (const [key, value] of Object.entries(SERVER_DYNAMIC_CONFIG))
      expect(
        production[key]?.map((v) => v.value),
        key,
      ).toEqual([value]);
  });
});

describe("the worker's Node process", () => {
  it('is started by the image and the Deployment with the flags and malloc arenas npm run up and the benchmarks use', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    expect(cmd).toEqual(['node', ...WORKER_NODE_FLAGS, 'dist/src/worker.js']);
    for (const [name, value] of Object.entries(WORKER_NODE_ENV))
      expect(dockerfile).toMatch(new RegExp(`^ENV .*\\b${name}=${value}\\b`, 'm'));

    const deployment = loadYaml<{
      spec: { template: { spec: { containers: { command: string[]; env: { name: string; value: string }[] }[] } } };
    }>(
      readFileSync('deploy/worker.yaml', 'utf8')
        .split(/^---$/m)
        .find((d) => /kind: Deployment/.test(d))!,
    );
    const [worker] = deployment.spec.template.spec.containers;
    expect(worker!.command).toEqual(['node', ...WORKER_NODE_FLAGS, 'dist/src/worker.js']);
    for (const [name, value] of Object.entries(WORKER_NODE_ENV)) expect(worker!.env).toContainEqual({ name, value });
  });

  it('accepts those flags (a misspelt V8 flag would stop the worker at start) and runs with them', async () => {
    const { stdout } = await exec(process.execPath, [...WORKER_NODE_FLAGS, '-p', 'JSON.stringify(process.execArgv)']);
    expect((JSON.parse(stdout) as string[]).slice(0, WORKER_NODE_FLAGS.length)).toEqual(WORKER_NODE_FLAGS);
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
