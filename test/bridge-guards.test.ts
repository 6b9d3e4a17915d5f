import { execFileSync } from 'node:child_process';
import type { Server } from 'node:http';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type RunningBridge } from '../src/bridge.js';
import { createLogger } from '../src/logger.js';
import { openRaw, requestHead } from './helpers/raw-http.js';
import { commandBody, interactionBody, slackHeaders } from './helpers/slack-signing.js';
import { until } from './helpers/stack.js';
import { testClient, testConfig } from './helpers/temporal.js';

const SECRET = 'guards-signing-secret';
const connections = (server: Server) =>
  new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

describe('approval bridge guards against hostile clients', () => {
  let client: Client;
  // Short request timeout, for the slow-client tests.
  let quick: RunningBridge;
  // Default timeouts, few connections, for the saturation test.
  let capped: RunningBridge;

  beforeAll(async () => {
    client = await testClient();
    const env = { SLACK_SIGNING_SECRET: SECRET, BRIDGE_RATE_LIMIT_PER_MINUTE: '10000' };
    const file = { approvals: { slackUsers: { UBOB: 'oncall-lead' } } };
    const deps = (extra: Record<string, string>) => ({
      config: testConfig({ ...env, ...extra }, file),
      client,
      logger: createLogger('silent'),
    });
    const loopback = { host: '127.0.0.1', port: 0, healthPort: 0 };
    quick = await startBridge(deps({ BRIDGE_REQUEST_TIMEOUT_MS: '1000' }), loopback);
    capped = await startBridge(deps({ BRIDGE_MAX_CONNECTIONS: '20' }), loopback);
  });
  afterAll(async () => {
    await quick?.close();
    await capped?.close();
    await client?.connection.close();
  });

  const post = (path: string, body: string, headers = slackHeaders(body, SECRET)) =>
    fetch(`${quick.url}${path}`, { method: 'POST', body, headers });

  it('cuts off a client trickling its body once the request timeout has passed: 408, connection closed', async () => {
    const conn = await openRaw(quick.url);
    const started = Date.now();
    conn.socket.write(requestHead('/slack/interactions', 1_000, slackHeaders('', SECRET)));
    // A byte every 100 ms keeps the socket from ever being idle: only the request timeout can end it.
    const trickle = setInterval(() => conn.socket.write('a'), 100);
    try {
      await conn.closed;
    } finally {
      clearInterval(trickle);
    }
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
    // Not before the request timeout (an upper bound would only measure the machine's load).
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('cuts off a client trickling its headers, and an idle connection', async () => {
    const headers = await openRaw(quick.url);
    const idle = await openRaw(quick.url);
    headers.socket.write('POST /slack/interactions HTTP/1.1\r\nhost: 127.0.0.1\r\n');
    const trickle = setInterval(() => headers.socket.write('x-more: a\r\n'), 100);
    try {
      await Promise.all([headers.closed, idle.closed]);
    } finally {
      clearInterval(trickle);
    }
    expect(headers.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('answers 400 naming what is wrong with a malformed payload (payload=null was a 500)', async () => {
    for (const [payload, error] of [
      ['null', /^payload: /],
      ['"text"', /^payload: /],
      [
        '{"type":"block_actions","user":{"id":"UBOB"},"actions":[{"action_id":"approve"}]}',
        /^payload\.actions\[0\]\.value: /,
      ],
      [
        '{"type":"view_submission","user":{"id":"UBOB"},"actions":[{"action_id":"approve","value":"x"}]}',
        /^payload\.type: expected "block_actions"/,
      ],
      [
        '{"type":"block_actions","user":{"id":"UBOB"},"actions":[]}',
        /^payload\.actions: expected an approve or reject button/,
      ],
      ['{', /^payload is not JSON$/],
    ] as const) {
      const body = new URLSearchParams({ payload }).toString();
      const res = await post('/slack/interactions', body);
      expect(res.status, payload).toBe(400);
      expect(((await res.json()) as { error: string }).error, payload).toMatch(error);
    }
  });

  it('maps only configured Slack users: __proto__ and constructor do not resolve through the prototype (403)', async () => {
    for (const user of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      // A workflow that does not exist: the user must be refused before it is looked up (that was a 404).
      const click = interactionBody(user, 'approve', 'emergency-none', 'https://hooks.slack.com/actions/x');
      const res = await post('/slack/interactions', click);
      expect(res.status, user).toBe(403);
      expect(await res.json()).toEqual({ error: `Slack user ${user} is not mapped to an approver` });
      const command = commandBody(user, 'approve emergency-none');
      expect((await post('/slack/commands', command)).status, user).toBe(403);
    }
    // A mapped user gets past the mapping, to the workflow lookup.
    expect(
      (
        await post(
          '/slack/interactions',
          interactionBody('UBOB', 'approve', 'emergency-none', 'https://hooks.slack.com/actions/x'),
        )
      ).status,
    ).toBe(404);
  });

  it('refuses timestamps more than 5 minutes in the future, as it does stale ones (401)', async () => {
    const body = interactionBody('UBOB', 'approve', 'emergency-none', 'https://hooks.slack.com/actions/x');
    const now = Math.floor(Date.now() / 1000);
    const ahead = await post('/slack/interactions', body, slackHeaders(body, SECRET, now + 6 * 60));
    expect(ahead.status).toBe(401);
    expect(await ahead.json()).toEqual({
      error: 'request refused: x-slack-request-timestamp is more than 5 minutes in the future',
    });
    expect((await post('/slack/interactions', body, slackHeaders(body, SECRET, now - 6 * 60))).status).toBe(401);
    const garbled = await post('/slack/interactions', body, {
      ...slackHeaders(body, SECRET),
      'x-slack-request-timestamp': '1e12',
    });
    expect(await garbled.json()).toEqual({ error: 'request refused: x-slack-request-timestamp must be Unix seconds' });
    // A clock a minute ahead is tolerated: verified, then refused for the missing workflow.
    expect((await post('/slack/interactions', body, slackHeaders(body, SECRET, now + 60))).status).toBe(404);
  });

  it('keeps its health port answering while the public port is saturated at its connection cap', async () => {
    const hogs = await Promise.all(Array.from({ length: 20 }, () => openRaw(capped.url)));
    try {
      for (const hog of hogs) hog.socket.write('POST /slack/interactions HTTP/1.1\r\n');
      await until('20 open connections on the public port', async () => (await connections(capped.app.server)) === 20);
      const extra = await openRaw(capped.url);
      extra.socket.write('GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
      await extra.closed;
      expect(extra.received()).toBe('');

      const health = await fetch(`${capped.healthUrl}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ ok: true, signingSecretConfigured: true });
      const metrics = await (await fetch(`${capped.healthUrl}/metrics`)).text();
      expect(metrics).toMatch(/^maintenance_bridge_connections_dropped_total 1$/m);
    } finally {
      for (const hog of hogs) hog.socket.destroy();
    }
    // Once the hogs leave, the public port serves again.
    await until('the public port answering', () =>
      fetch(`${capped.url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ),
    );
  });

  it('answers 503 on the health port while the event loop is stalled, 200 once it ticks again', async () => {
    // The health thread answers by itself; it judges the bridge by the heartbeat of this thread's loop.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5_500);
    const during = execFileSync(
      process.execPath,
      ['-e', `fetch('${quick.healthUrl}/healthz').then(async (r) => console.log(r.status, await r.text()))`],
      { encoding: 'utf8' },
    );
    expect(during).toMatch(/^503 /);
    expect(JSON.parse(during.slice(4))).toMatchObject({ ok: false, listening: true });
    await until('the health port answering 200 again', () =>
      fetch(`${quick.healthUrl}/healthz`).then((r) => r.status === 200),
    );
  });

  it('refuses bridge settings that cannot work, naming the variable', () => {
    expect(() => testConfig({ BRIDGE_PORT: '3000', BRIDGE_HEALTH_PORT: '3000' })).toThrow(
      /env BRIDGE_HEALTH_PORT: must differ from BRIDGE_PORT \(3000\)/,
    );
    expect(() => testConfig({ BRIDGE_MAX_CONNECTIONS: '0' })).toThrow(/env BRIDGE_MAX_CONNECTIONS/);
    expect(() => testConfig({ BRIDGE_REQUEST_TIMEOUT_MS: 'soon' })).toThrow(/env BRIDGE_REQUEST_TIMEOUT_MS/);
  });
});
