// The approval bridge: Slack buttons and the `/maint` slash command become the same signed `decide`
// Update that `maint approve` sends. Every request is verified against Slack's signing secret
// (stale or forged: 401) and mapped to an approver on the workflow kind's allow-list (anyone else:
// 403); Slack is acknowledged at once, then the bridge signs a statement for that person with its
// own Ed25519 key (which the worker checks), sends it, and posts the verdict to the response_url.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import rateLimit from '@fastify/rate-limit';
import { verifySlackRequest } from '@slack/bolt';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { loadConfigOrExit, type Config } from './config.js';
import { DecisionError, describeVerdict, pendingApproval, sendDecision } from './decisions.js';
import type { RunStatus } from './domain/run.js';
import { createLogger, type Logger } from './logger.js';
import { KeyError, parsePrivateKey, signStatement, type SigningKey } from './signing.js';
import { connectClient } from './temporal.js';
import { statusQuery } from '../workflows/lib/definitions.js';

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

/** The bridge's private key, from BRIDGE_SIGNING_KEY or the file BRIDGE_SIGNING_KEY_FILE names; none: decisions get 503. */
export function loadBridgeKey(config: Config): SigningKey | undefined {
  const text = config.bridge.signingKey ?? (config.bridge.signingKeyFile ? readFileSync(config.bridge.signingKeyFile, 'utf8') : undefined);
  if (text === undefined) return undefined;
  try {
    return parsePrivateKey(text);
  } catch (err) {
    if (err instanceof KeyError) throw new KeyError(`bridge signing key: ${err.message}`);
    throw err;
  }
}

function describeStatus(workflowId: string, s: RunStatus): string {
  const counted = s.approvals.filter((a) => !a.ignored);
  return [
    `${workflowId} (${s.kind}): phase ${s.phase}, outcome ${s.outcome}`,
    s.waitingFor ? `waiting for ${s.waitingFor}` : undefined,
    counted.length ? `decisions: ${counted.map((a) => `${a.decision} by ${a.approver}`).join(', ')}` : undefined,
  ].filter(Boolean).join('\n');
}

export async function createBridge({ config, client, logger }: BridgeDeps): Promise<FastifyInstance> {
  const key = loadBridgeKey(config);
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  // Decisions still being signed and sent after Slack was acknowledged; closing waits for them.
  const inFlight = new Set<Promise<void>>();
  app.addHook('onClose', async () => {
    await Promise.allSettled([...inFlight]);
  });
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

  /** Signs the decision for this verified Slack user, for the run and plan as they are now, and returns the verdict as text. */
  async function decide(workflowId: string, approver: string, slackUser: string, decision: Decision, via: 'slack' | 'slash-command'): Promise<string> {
    const what = `${decision.verb === 'approve' ? 'Approval' : 'Rejection'} by ${approver} via ${via}`;
    try {
      const { runId, approval } = await pendingApproval(client, workflowId);
      const proof = signStatement({
        decision: decision.verb, workflowId, runId, planHash: approval.planHash, principal: approver, slackUser, via,
        comment: decision.verb === 'reject' ? decision.reason : decision.comment,
      }, key!);
      const verdict = await sendDecision(client, workflowId, runId, proof);
      const icon = verdict.verdict === 'ignored' ? ':warning:' : decision.verb === 'approve' ? ':white_check_mark:' : ':no_entry:';
      const said = decision.verb === 'reject' ? `: ${decision.reason}` : decision.comment ? `: ${decision.comment}` : '';
      return `${icon} ${what}${said} ${describeVerdict(verdict)}`;
    } catch (err) {
      if (err instanceof DecisionError) return `:warning: ${what} not delivered: ${err.message}`;
      logger.error({ workflowId, err: (err as Error).message }, 'decision could not be sent');
      return `:warning: ${what} not delivered: ${(err as Error).message.split('\n')[0]}`;
    }
  }

  /** Slack wants an answer within 3 s: acknowledge now, deliver the verdict to the response_url when it is known. */
  function decideLater(workflowId: string, approver: string, slackUser: string, decision: Decision, via: 'slack' | 'slash-command', responseUrl: string | undefined): void {
    const task = decide(workflowId, approver, slackUser, decision, via)
      .then(async (text) => {
        logger.info({ workflowId, approver, via, verdict: text.slice(0, 200) }, 'decision sent');
        await updateSlackMessage(responseUrl, text);
      })
      .catch((err: Error) => logger.error({ err: err.message }, 'verdict could not be posted'))
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  }

  function requireKey(): void {
    if (!key) throw new HttpError(503, 'the bridge has no signing key (BRIDGE_SIGNING_KEY_FILE); refusing to relay unsigned decisions');
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

  app.get('/healthz', async () => ({ ok: true, signingSecretConfigured: Boolean(config.slack.signingSecret), signingKey: key?.fingerprint ?? null }));

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
      const user = payload.user?.id ?? '';
      const { approver } = await authorize(user, action.value);
      requireKey();
      const decision: Decision = action.action_id === 'approve' ? { verb: 'approve' } : { verb: 'reject', reason: 'rejected in Slack' };
      decideLater(action.value, approver, user, decision, 'slack', payload.response_url);
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
      requireKey();
      const decision: Decision = verb === 'approve' ? { verb: 'approve', comment: words || undefined } : { verb: 'reject', reason: words };
      decideLater(workflowId, approver, user, decision, 'slash-command', form.get('response_url') ?? undefined);
      return reply.send({ response_type: 'ephemeral', text: `${verb === 'approve' ? 'Approval' : 'Rejection'} by ${approver} received; the verdict follows here.` });
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
  logger.info({
    port: config.bridge.port, signingSecret: config.slack.signingSecret ? 'configured' : 'missing: every Slack request is refused',
    signingKey: loadBridgeKey(config)?.fingerprint ?? 'missing: decisions are refused (503)',
  }, 'approval bridge listening');
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
