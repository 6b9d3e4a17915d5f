import { Writable } from 'node:stream';
import type { Client } from '@temporalio/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge, type RunningBridge } from '../src/bridge.js';
import { openRaw, requestHead } from './helpers/raw-http.js';
import { commandBody, interactionBody, slackHeaders } from './helpers/slack-signing.js';
import { testClient, testConfig } from './helpers/temporal.js';

describe('approval bridge rate limit', () => {
  let client: Client;
  let bridge: RunningBridge;
  let url: string;
  const logLines: { msg: string; total?: number; refused?: Record<string, number> }[] = [];

  beforeAll(async () => {
    client = await testClient();
    const sink = new Writable({
      write: (chunk: Buffer, _enc, done) => done(void logLines.push(JSON.parse(chunk.toString()))),
    });
    bridge = await startBridge(
      {
        config: testConfig({ SLACK_SIGNING_SECRET: 'the-real-secret', BRIDGE_RATE_LIMIT_PER_MINUTE: '3' }),
        client,
        logger: pino({ level: 'info' }, sink),
      },
      { host: '127.0.0.1', port: 0, healthPort: 0 },
    );
    url = bridge.url;
  });
  afterAll(async () => {
    if (bridge?.app.server.listening) await bridge.close();
    await client?.connection.close();
  });

  const forge = (path: string, body: string) =>
    fetch(`${url}${path}`, { method: 'POST', body, headers: slackHeaders(body, 'a-guess') });

  it('answers 429 with Retry-After once an address exceeds its requests per minute, per route, never on /healthz', async () => {
    const body = interactionBody('UMALLORY', 'approve', 'emergency-x', 'https://hooks.slack.com/actions/x');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await forge('/slack/interactions', body)).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    const limited = await forge('/slack/interactions', body);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);

    expect((await forge('/slack/commands', commandBody('UMALLORY', 'approve emergency-x'))).status).toBe(401);
    for (let i = 0; i < 5; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await fetch(`${bridge.healthUrl}/healthz`)).status).toBe(200);
  });

  it('closes the connection of a 429 without reading the body it announced', async () => {
    const conn = await openRaw(url);
    // 10 MB announced, none sent: the answer and the close must not wait for it.
    conn.socket.write(requestHead('/slack/interactions', 10_000_000, slackHeaders('', 'a-guess')));
    await conn.closed;
    expect(conn.received()).toMatch(/^HTTP\/1\.1 429/);
    expect(conn.received()).toMatch(/^connection: close\r$/im);
  });

  it('counts refusals on the health port and logs them as one summary line, not one per request', async () => {
    const body = interactionBody('UMALLORY', 'approve', 'emergency-x', 'https://hooks.slack.com/actions/x');
    const started = Date.now();
    for (let i = 0; i < 200; i++) expect((await forge('/slack/interactions', body)).status).toBe(429);
    const metrics = await (await fetch(`${bridge.healthUrl}/metrics`)).text();
    expect(metrics).toMatch(/^maintenance_bridge_rate_limited_total\{route="\/slack\/interactions"\} 203$/m);
    expect(metrics).toMatch(/^maintenance_bridge_requests_total\{route="\/slack\/interactions",status="401"\} 3$/m);

    await bridge.close();
    const summaries = logLines.filter((l) => l.msg === 'bridge refused requests');
    // At most one line per 10 s interval begun, plus the one at close, whatever the number of refusals.
    expect(summaries.length).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 10_000) + 1);
    expect(summaries.reduce((n, l) => n + (l.refused?.['429 /slack/interactions'] ?? 0), 0)).toBe(203);
    expect(logLines.filter((l) => l.msg !== 'bridge refused requests')).toEqual([]);
  });

  it('rejects a limit that is not a positive whole number', () => {
    expect(() => testConfig({ BRIDGE_RATE_LIMIT_PER_MINUTE: '0' })).toThrow(/env BRIDGE_RATE_LIMIT_PER_MINUTE/);
  });
});
