import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridge } from '../src/bridge.js';
import { createLogger } from '../src/logger.js';
import { commandBody, interactionBody, slackHeaders } from './helpers/slack-signing.js';
import { testClient, testConfig } from './helpers/temporal.js';

describe('approval bridge rate limit', () => {
  let client: Client;
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    client = await testClient();
    app = await createBridge({
      config: testConfig({ SLACK_SIGNING_SECRET: 'the-real-secret', BRIDGE_RATE_LIMIT_PER_MINUTE: '3' }), client, logger: createLogger('silent'),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await client?.connection.close();
  });

  const forge = (path: string, body: string) => fetch(`${url}${path}`, { method: 'POST', body, headers: slackHeaders(body, 'a-guess') });

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
  });

  it('rejects a limit that is not a positive whole number', () => {
    expect(() => testConfig({ BRIDGE_RATE_LIMIT_PER_MINUTE: '0' })).toThrow(/env BRIDGE_RATE_LIMIT_PER_MINUTE/);
  });
});
