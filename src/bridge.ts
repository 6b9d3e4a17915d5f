// The approval bridge: Slack buttons and the `/maint` slash command become the same `approve` /
// `reject` signals that `maint approve` and `temporal workflow signal` send. Every request is
// verified against Slack's signing secret (stale or forged: 401), mapped to an approver on the
// workflow kind's allow-list (anyone else: 403), and answered with the outcome.
import { fileURLToPath } from 'node:url';
import rateLimit from '@fastify/rate-limit';
import { verifySlackRequest } from '@slack/bolt';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { loadConfigOrExit, type Config } from './config.js';
import type { RunStatus } from './domain/run.js';
import { createLogger, type Logger } from './logger.js';
import { connectClient } from './temporal.js';
import { approveSignal, rejectSignal, statusQuery } from '../workflows/lib/definitions.js';

const GATED_KINDS = ['emergencyMaintenance', 'annualUpgrade'] as const;
type GatedKind = (typeof GATED_KINDS)[number];

export interface BridgeDeps {
  config: Config;
  client: Client;
  logger: Logger;
}

class HttpError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
  }
}

type Decision = { verb: 'approve'; comment?: string } | { verb: 'reject'; reason: string };

function describeStatus(workflowId: string, s: RunStatus): string {
  const counted = s.approvals.filter((a) => !a.ignored);
  return [
    `${workflowId} (${s.kind}): phase ${s.phase}, outcome ${s.outcome}`,
    s.waitingFor ? `waiting for ${s.waitingFor}` : undefined,
    counted.length ? `decisions: ${counted.map((a) => `${a.decision} by ${a.approver}`).join(', ')}` : undefined,
  ].filter(Boolean).join('\n');
}

export async function createBridge({ config, client, logger }: BridgeDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  // Approvals are human-paced; a flood (forged or replayed requests, a looping client) is refused
  // per source address before its body is read or its signature computed.
  await app.register(rateLimit, {
    global: false, max: config.bridge.rateLimitPerMinute, timeWindow: '1 minute',
    onExceeded: (req) => logger.warn({ ip: req.ip, url: req.url }, 'bridge rate limit exceeded'),
  });
  // Route option: the Slack routes take the limits registered above; /healthz is never limited.
  const limited = { config: { rateLimit: {} } };
  // The signature covers the raw body, so keep it as the string Slack sent.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  function verify(req: FastifyRequest): URLSearchParams {
    const secret = config.slack.signingSecret;
    if (!secret) throw new HttpError(503, 'SLACK_SIGNING_SECRET is not configured; refusing unverifiable requests');
    const body = typeof req.body === 'string' ? req.body : '';
    try {
      verifySlackRequest({
        signingSecret: secret,
        body,
        headers: {
          'x-slack-signature': String(req.headers['x-slack-signature'] ?? ''),
          'x-slack-request-timestamp': Number(req.headers['x-slack-request-timestamp']),
        },
      });
    } catch (err) {
      throw new HttpError(401, `request refused: ${(err as Error).message}`);
    }
    return new URLSearchParams(body);
  }

  /** The approver behind a Slack user, allowed for this workflow's kind; 403 otherwise. */
  async function authorize(slackUser: string, workflowId: string): Promise<{ approver: string; kind: GatedKind }> {
    const approver = config.approvals.slackUsers[slackUser];
    if (!approver) throw new HttpError(403, `Slack user ${slackUser} is not mapped to an approver`);
    let type: string;
    try {
      type = (await client.workflow.getHandle(workflowId).describe()).type;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new HttpError(404, `no workflow ${workflowId}`);
      throw err;
    }
    if (!(GATED_KINDS as readonly string[]).includes(type)) throw new HttpError(400, `${workflowId} is a ${type}, which takes no approvals`);
    const kind = type as GatedKind;
    if (!config.approvals[kind].approvers.includes(approver)) throw new HttpError(403, `${approver} may not approve ${kind}`);
    return { approver, kind };
  }

  async function decide(workflowId: string, approver: string, decision: Decision, via: string): Promise<string> {
    const handle = client.workflow.getHandle(workflowId);
    if (decision.verb === 'approve') await handle.signal(approveSignal, { approver, comment: decision.comment, via });
    else await handle.signal(rejectSignal, { approver, reason: decision.reason, via });
    const verb = decision.verb === 'approve' ? ':white_check_mark: Approved' : ':no_entry: Rejected';
    return `${verb} by ${approver} via ${via}${decision.verb === 'reject' ? `: ${decision.reason}` : decision.comment ? `: ${decision.comment}` : ''}`;
  }

  async function updateSlackMessage(responseUrl: string | undefined, text: string): Promise<void> {
    if (!responseUrl) return;
    if (!responseUrl.startsWith(config.bridge.responseUrlPrefix)) {
      logger.warn({ responsePrefix: responseUrl.slice(0, 30) }, 'response_url outside the Slack prefix; not posting');
      return;
    }
    const res = await fetch(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ replace_original: true, text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] }),
      signal: AbortSignal.timeout(5_000),
    }).catch((err: Error) => ({ ok: false, status: err.message }));
    if (!res.ok) logger.warn({ status: res.status }, 'could not update the Slack message');
  }

  function fail(reply: FastifyReply, err: unknown) {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message });
    logger.error({ err: (err as Error).message }, 'bridge request failed');
    return reply.code(500).send({ error: 'internal error' });
  }

  app.get('/healthz', async () => ({ ok: true, signingSecretConfigured: Boolean(config.slack.signingSecret) }));

  app.post('/slack/interactions', limited, async (req, reply) => {
    try {
      const form = verify(req);
      let payload: { type?: string; user?: { id?: string }; actions?: { action_id?: string; value?: string }[]; response_url?: string };
      try {
        payload = JSON.parse(form.get('payload') ?? '');
      } catch {
        throw new HttpError(400, 'payload is not JSON');
      }
      const action = payload.actions?.[0];
      if (payload.type !== 'block_actions' || !action || !['approve', 'reject'].includes(action.action_id ?? '') || !action.value) {
        throw new HttpError(400, 'expected a block_actions payload with an approve or reject button');
      }
      const { approver } = await authorize(payload.user?.id ?? '', action.value);
      const decision: Decision = action.action_id === 'approve' ? { verb: 'approve' } : { verb: 'reject', reason: 'rejected in Slack' };
      const text = await decide(action.value, approver, decision, 'slack');
      await updateSlackMessage(payload.response_url, text);
      return reply.code(200).send();
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.post('/slack/commands', limited, async (req, reply) => {
    try {
      const form = verify(req);
      const [verb, workflowId, ...rest] = (form.get('text') ?? '').trim().split(/\s+/);
      const usage = 'usage: /maint approve <workflowId> [comment] | reject <workflowId> <reason> | status <workflowId>';
      if (!verb || !workflowId || !['approve', 'reject', 'status'].includes(verb)) throw new HttpError(400, usage);
      const user = form.get('user_id') ?? '';
      if (verb === 'status') {
        await authorize(user, workflowId);
        const status = await client.workflow.getHandle(workflowId).query(statusQuery);
        return reply.send({ response_type: 'ephemeral', text: describeStatus(workflowId, status) });
      }
      const words = rest.join(' ');
      if (verb === 'reject' && !words) throw new HttpError(400, 'a rejection needs a reason: /maint reject <workflowId> <reason>');
      const { approver } = await authorize(user, workflowId);
      const decision: Decision = verb === 'approve' ? { verb: 'approve', comment: words || undefined } : { verb: 'reject', reason: words };
      return reply.send({ response_type: 'in_channel', text: await decide(workflowId, approver, decision, 'slash-command') });
    } catch (err) {
      return fail(reply, err);
    }
  });

  return app;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  const client = await connectClient(config);
  const app = await createBridge({ config, client, logger });
  await app.listen({ host: config.bridge.host, port: config.bridge.port });
  logger.info({ port: config.bridge.port, signingSecret: config.slack.signingSecret ? 'configured' : 'missing: every Slack request is refused' }, 'approval bridge listening');
  const stop = async () => {
    await app.close();
    await client.connection.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(`bridge failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
