import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/config/load.js';
import { applicationCacheCleanup } from '../workflows/application-cache-cleanup.js';
import { expectWorkflowRejects } from './helpers/failures.js';
import { recordHistory } from './helpers/histories.js';
import { createTestDatabase, type TestDatabase } from './helpers/postgres.js';
import { SlackSink } from './helpers/slack-sink.js';
import { testConfig, withWorker } from './helpers/temporal.js';

const TOKEN = 'cache-admin-token-3f9a';

/**
 * The backend's admin API: `/admin/cache/clear` wants the bearer token; `/flaky` answers 503 once,
 * then clears.
 */
async function startAdminApi(): Promise<{
  url: string;
  requests: { path: string; method: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}> {
  const requests: { path: string; method: string; headers: IncomingHttpHeaders }[] = [];
  let flakyCalls = 0;
  const server: Server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', method: req.method ?? '', headers: req.headers });
    if (req.url === '/admin/cache/clear')
      res.writeHead(req.headers.authorization === `Bearer ${TOKEN}` ? 204 : 401).end();
    else if (req.url === '/flaky') res.writeHead(++flakyCalls === 1 ? 503 : 200).end('cleared');
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('applicationCacheCleanup', () => {
  let db: TestDatabase;
  let slack: SlackSink;
  let api: Awaited<ReturnType<typeof startAdminApi>>;

  beforeAll(async () => {
    [db, slack, api] = await Promise.all([createTestDatabase('maint_cache'), new SlackSink().start(), startAdminApi()]);
  });
  afterAll(async () => {
    await Promise.all([db?.drop(), slack?.stop(), api?.close()]);
  });

  const config = (cacheClear: unknown[], env: Record<string, string> = { TRIXTECH_ADMIN_TOKEN: TOKEN }) =>
    testConfig(
      {
        ...slack.workerEnv(db.url, db.url),
        ...env,
      },
      { targets: { cacheClear } },
    );
  const postsAbout = (path: string, workflowId: string) =>
    slack.postsTo(path).filter((p) => JSON.stringify(p.body).includes(workflowId));

  it('clears every endpoint with its token, retries a 5xx, stores the report and posts nothing when all is well', async () => {
    const workflowId = `app-cache-cleanup-${Date.now()}`;
    const { report, history } = await withWorker(
      config([
        { name: 'backend', url: `${api.url}/admin/cache/clear`, tokenEnv: 'TRIXTECH_ADMIN_TOKEN' },
        { name: 'search', url: `${api.url}/flaky` },
      ]),
      async ({ client, taskQueue }) => {
        const handle = await client.workflow.start(applicationCacheCleanup, { taskQueue, workflowId, args: [{}] });
        return { report: await handle.result(), history: await handle.fetchHistory() };
      },
    );
    await recordHistory('applicationCacheCleanup', history, workflowId);

    expect(report.outcome).toBe('ok');
    expect(report.summary).toMatch(/^Application cache cleanup: 2 of 2 endpoint\(s\) cleared/);
    expect(report.checks.map((c) => [c.target, c.status, c.detail.replace(/ in \d+ ms/, '')])).toEqual([
      ['backend', 'ok', `${api.url}/admin/cache/clear answered HTTP 204`],
      ['search', 'ok', `${api.url}/flaky answered HTTP 200`],
    ]);
    expect(
      api.requests.filter((r) => r.path === '/admin/cache/clear').map((r) => [r.method, r.headers.authorization]),
    ).toEqual([['POST', `Bearer ${TOKEN}`]]);
    expect(api.requests.filter((r) => r.path === '/flaky')).toHaveLength(2);
    // The token went to the API and nowhere else: not into history, not into the report.
    expect(JSON.stringify(history)).not.toContain(TOKEN);
    expect(JSON.stringify(report)).not.toContain(TOKEN);
    expect(postsAbout('/report', workflowId)).toEqual([]);
    const { rows } = await db.pool.query('SELECT outcome FROM maintenance_runs WHERE workflow_id = $1', [workflowId]);
    expect(rows).toEqual([{ outcome: 'ok' }]);
  });

  it('reports a rejected token as critical without retrying it, posts the report and alerts', async () => {
    const workflowId = `app-cache-cleanup-401-${Date.now()}`;
    const before = api.requests.length;
    const report = await withWorker(
      config([{ name: 'backend', url: `${api.url}/admin/cache/clear`, tokenEnv: 'TRIXTECH_ADMIN_TOKEN' }], {
        TRIXTECH_ADMIN_TOKEN: 'stale-token',
      }),
      ({ client, taskQueue }) =>
        client.workflow.execute(applicationCacheCleanup, { taskQueue, workflowId, args: [{}] }),
    );
    expect(report.outcome).toBe('critical');
    expect(report.checks[0]).toMatchObject({
      target: 'backend',
      status: 'critical',
      detail: `${api.url}/admin/cache/clear answered HTTP 401 (check the token)`,
    });
    expect(api.requests.length - before).toBe(1);
    expect(postsAbout('/report', workflowId)).toHaveLength(1);
    expect(postsAbout('/alert', workflowId)).toHaveLength(1);
    expect(JSON.stringify(slack.posts)).not.toContain('stale-token');
  });

  it('skips without endpoints, refuses a token variable that is not set, and bad input', async () => {
    const report = await withWorker(config([]), async ({ client, taskQueue }) => {
      await expectWorkflowRejects(client, taskQueue, 'applicationCacheCleanup', 'app-cache-bad', [
        [{ endpoints: ['x'] }, 'endpoints'],
      ]);
      return client.workflow.execute(applicationCacheCleanup, {
        taskQueue,
        workflowId: `app-cache-none-${Date.now()}`,
        args: [{}],
      });
    });
    expect(report.checks).toEqual([
      expect.objectContaining({ status: 'skipped', detail: 'no cache endpoints configured (targets.cacheClear)' }),
    ]);
    expect(() => config([{ name: 'backend', url: `${api.url}/x`, tokenEnv: 'NOT_SET_ANYWHERE' }], {})).toThrow(
      ConfigError,
    );
    expect(() => config([{ name: 'backend', url: `${api.url}/x`, tokenEnv: 'NOT_SET_ANYWHERE' }], {})).toThrow(
      /targets\.cacheClear\[0\]\.tokenEnv: environment variable NOT_SET_ANYWHERE is not set/,
    );
    expect(() =>
      config([
        { name: 'backend', url: `${api.url}/a` },
        { name: 'backend', url: `${api.url}/b` },
      ]),
    ).toThrow('targets.cacheClear: endpoint names must be unique');
  });
});
