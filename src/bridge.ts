// The approval bridge: Slack buttons and the `/maint` slash command become the same signed `decide`
// Update that `maint approve` sends. Every request is verified against Slack's signing secret
// (stale or forged: 401) and mapped to an approver on the workflow kind's allow-list (anyone else:
// 403); Slack is acknowledged at once, then the bridge signs a statement for that person with its
// own Ed25519 key (which the worker checks), sends it, and posts the verdict to the response_url.
// Checklist task buttons (Done / Blocked / Not applicable, a reason required for the last two)
// become a sign-off signed the same way, for the mapped person, recorded through recordSignOff.
// Hostile traffic is bounded: per-address rate limit, connection cap, request/header/body timeouts,
// refused connections closed, one summary log line per interval; /healthz and /metrics answer from
// a thread and a port of their own (BRIDGE_HEALTH_PORT) so a flood of the Slack port cannot fail the probes.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import rateLimit from '@fastify/rate-limit';
import { verifySlackRequest } from '@slack/bolt';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { z } from 'zod';
import { needsReason, recordSignOff, SignOffError, signOffPlan, storedReport, taskItem } from './checklist-signoffs.js';
import { createPool } from './clients.js';
import { loadConfigOrExit } from './config/load.js';
import type { Config } from './config/schema.js';
import { DecisionError, describeVerdict, pendingApproval, sendDecision } from './decisions.js';
import { planHash } from '../domain/approval-proof.js';
import { parseApprovalButton } from '../domain/format.js';
import type { SignOffStatus } from '../domain/checklists.js';
import { TASK_BUTTONS, TASK_REASON, taskSlackMessage, type TaskRef } from '../domain/format.js';
import { escapeSlack } from '../domain/text.js';
import type { RunStatus } from '../domain/run.js';
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
  /** Counters for the health port's /metrics; a bridge without a health port keeps its own. */
  metrics?: BridgeMetrics;
}

/** Refusals are logged as one summary line per this interval, never one line per request. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** Slack signs requests as they leave; a timestamp further ahead than this is refused like a stale one. */
const MAX_CLOCK_AHEAD_S = 5 * 60;
/** Slack shows a click as failed when no answer comes within 3 s. */
const SLACK_ACK_WITHIN_MS = 2_500;

export function createBridgeMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'maintenance_bridge_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'maintenance_bridge_requests_total',
      help: 'Requests answered on the public port, by route and status',
      labelNames: ['route', 'status'],
      registers,
    }),
    rateLimited: new Counter({
      name: 'maintenance_bridge_rate_limited_total',
      help: 'Requests refused 429 by the per-address rate limit, by route',
      labelNames: ['route'],
      registers,
    }),
    connectionsDropped: new Counter({
      name: 'maintenance_bridge_connections_dropped_total',
      help: 'Connections closed on arrival because BRIDGE_MAX_CONNECTIONS were open',
      registers,
    }),
    clientErrors: new Counter({
      name: 'maintenance_bridge_client_errors_total',
      help: 'Connections closed for a timeout or malformed HTTP, by error code',
      labelNames: ['code'],
      registers,
    }),
    decisions: new Counter({
      name: 'maintenance_bridge_decisions_total',
      help: 'Decisions signed and sent, by channel and whether they were delivered',
      labelNames: ['via', 'result'],
      registers,
    }),
  };
}
export type BridgeMetrics = ReturnType<typeof createBridgeMetrics>;

/**
 * Counts refused requests and connections and logs them as one line per interval (what, how many,
 * the busiest sources): a flood costs a few lines, not one per request (it was 7.4 MB per 10 s).
 */
class RefusalLog {
  private counts = new Map<string, number>();
  private sources = new Map<string, number>();
  private since = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => this.flush(), intervalMs).unref();
  }

  record(what: string, source: string | undefined): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
    const key = source ?? 'unknown';
    // Bounded: a flood from many addresses must not grow this map without limit.
    if (this.sources.has(key) || this.sources.size < 1_000) this.sources.set(key, (this.sources.get(key) ?? 0) + 1);
  }

  flush(): void {
    if (this.counts.size > 0) {
      const refused = Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]));
      const topSources = Object.fromEntries([...this.sources].sort((a, b) => b[1] - a[1]).slice(0, 5));
      const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
      this.logger.warn(
        { total, refused, topSources, seconds: Math.round((Date.now() - this.since) / 1000) },
        'bridge refused requests',
      );
    }
    this.counts.clear();
    this.sources.clear();
    this.since = Date.now();
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}

/** A task button's action id -> the status it signs. */
const TASK_STATUS = new Map(
  Object.entries(TASK_BUTTONS).map(([status, b]) => [b.actionId, status as SignOffStatus] as const),
);

/** The part of Slack's block_actions payload the bridge uses; anything else in it is ignored. */
const InteractionPayloadSchema = z.object({
  type: z.literal('block_actions', 'expected "block_actions"'),
  user: z.object({ id: z.string().min(1).max(64) }),
  actions: z
    .array(
      z.object({
        action_id: z.enum(['approve', 'reject', ...TASK_STATUS.keys()]),
        // An approval's workflow id, or a task's reference (TaskRef as JSON).
        value: z.string().min(1).max(2_000),
      }),
    )
    .min(1, 'expected an approve or reject button'),
  // What the message's input boxes hold at the click: the task's reason.
  state: z
    .object({
      values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().max(3_000).nullish() }))),
    })
    .optional(),
  response_url: z.string().max(2_048).optional(),
});

const TaskRefSchema = z
  .object({
    workflowId: z.string().min(1).max(1_000),
    runId: z.string().min(1).max(100),
    item: z.string().min(1).max(200),
  })
  .strict();

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** `shown`: the plan hash of the Slack message clicked; a plan amended since is not decided on from it. */
type Decision = ({ verb: 'approve'; comment?: string } | { verb: 'reject'; reason: string }) & { shown?: string };

/** The bridge's private key, from BRIDGE_SIGNING_KEY or the file BRIDGE_SIGNING_KEY_FILE names; none: decisions get 503. */
export function loadBridgeKey(config: Config): SigningKey | undefined {
  const text =
    config.bridge.signingKey ??
    (config.bridge.signingKeyFile ? readFileSync(config.bridge.signingKeyFile, 'utf8') : undefined);
  if (text === undefined) return undefined;
  try {
    return parsePrivateKey(text);
  } catch (err) {
    if (err instanceof KeyError) throw new KeyError(`bridge signing key: ${err.message}`);
    throw err;
  }
}

/** A message of one mrkdwn section. */
const section = (text: string) => ({
  text,
  blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] as unknown[],
});

function describeStatus(workflowId: string, s: RunStatus): string {
  const counted = s.approvals.filter((a) => !a.ignored);
  return [
    `${workflowId} (${s.kind}): phase ${s.phase}, outcome ${s.outcome}`,
    s.waitingFor ? `waiting for ${s.waitingFor}` : undefined,
    counted.length ? `decisions: ${counted.map((a) => `${a.decision} by ${a.approver}`).join(', ')}` : undefined,
  ]
    .filter(Boolean)
    .join('\n');
}

export async function createBridge({
  config,
  client,
  logger,
  metrics = createBridgeMetrics(),
}: BridgeDeps): Promise<FastifyInstance> {
  const key = loadBridgeKey(config);
  const slackUsers = new Map(Object.entries(config.approvals.slackUsers));
  // Task sign-offs are stored next to the reports; pg connects on first use, so a bridge that only relays approvals never does.
  const reports = createPool(config.reportDatabaseUrl, logger, 'maint-bridge');
  const timeoutMs = config.bridge.requestTimeoutMs;
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    // A slow client (a trickled body, headers that never end, an idle socket) is cut off; Slack
    // sends its small requests in milliseconds.
    requestTimeout: timeoutMs,
    connectionTimeout: timeoutMs,
    keepAliveTimeout: 5_000,
    // Node checks the request and header timeouts only this often (by default every 30 s).
    http: { headersTimeout: Math.min(5_000, timeoutMs), connectionsCheckingInterval: Math.min(1_000, timeoutMs) },
  });
  // Connections past the cap are closed on arrival, so file handles never run out (about 20,000
  // trickling connections did) and the health port keeps answering.
  app.server.maxConnections = config.bridge.maxConnections;
  const refusals = new RefusalLog(logger, REFUSAL_LOG_INTERVAL_MS);
  app.server.on('drop', (data?: { remoteAddress?: string }) => {
    metrics.connectionsDropped.inc();
    refusals.record('connection cap', data?.remoteAddress);
  });
  app.server.on('clientError', (err: NodeJS.ErrnoException, socket: { remoteAddress?: string }) => {
    const code = err.code ?? 'unknown';
    metrics.clientErrors.inc({ code });
    if (code !== 'ECONNRESET') refusals.record(code, socket.remoteAddress);
  });
  // Decisions still being signed and sent after Slack was acknowledged; closing waits for them.
  const inFlight = new Set<Promise<void>>();
  app.addHook('onClose', async () => {
    await Promise.allSettled([...inFlight]);
    refusals.close();
    await reports.end();
  });
  // A refused request's connection is closed: what the client has not sent yet is never read, and
  // a flood pays for a new connection per request.
  app.addHook('onSend', async (_req, reply) => {
    if (reply.statusCode >= 400) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, status: reply.statusCode });
    if (reply.statusCode === 429) metrics.rateLimited.inc({ route });
    if (reply.statusCode >= 400) refusals.record(`${reply.statusCode} ${route}`, req.ip);
  });
  // Approvals are human-paced; a flood (forged or replayed requests, a looping client) is refused
  // per source address before its body is read or its signature computed.
  await app.register(rateLimit, { global: false, max: config.bridge.rateLimitPerMinute, timeWindow: '1 minute' });
  // Route option: the Slack routes take the limits registered above; /healthz is never limited.
  const limited = { config: { rateLimit: {} } };
  // The signature covers the raw body, so keep it as the string Slack sent.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );

  function verify(req: FastifyRequest): URLSearchParams {
    const secret = config.slack.signingSecret;
    if (!secret) throw new HttpError(503, 'SLACK_SIGNING_SECRET is not configured; refusing unverifiable requests');
    const body = typeof req.body === 'string' ? req.body : '';
    const timestamp = req.headers['x-slack-request-timestamp'];
    if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp))
      throw new HttpError(401, 'request refused: x-slack-request-timestamp must be Unix seconds');
    // Slack's verifier refuses only stale timestamps; one from the future could be replayed for longer.
    if (Number(timestamp) > Date.now() / 1000 + MAX_CLOCK_AHEAD_S)
      throw new HttpError(401, 'request refused: x-slack-request-timestamp is more than 5 minutes in the future');
    try {
      verifySlackRequest({
        signingSecret: secret,
        body,
        headers: {
          'x-slack-signature': String(req.headers['x-slack-signature'] ?? ''),
          'x-slack-request-timestamp': Number(timestamp),
        },
      });
    } catch (err) {
      throw new HttpError(401, `request refused: ${(err as Error).message}`);
    }
    return new URLSearchParams(body);
  }

  /** The approver behind a Slack user, allowed for this workflow's kind; 403 otherwise. */
  async function authorize(slackUser: string, workflowId: string): Promise<{ approver: string; kind: GatedKind }> {
    // A Map: ids such as `__proto__` or `constructor` must not resolve through the object prototype.
    const approver = slackUsers.get(slackUser);
    if (!approver) throw new HttpError(403, `Slack user ${slackUser} is not mapped to an approver`);
    let type: string;
    try {
      type = (await client.workflow.getHandle(workflowId).describe()).type;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new HttpError(404, `no workflow ${workflowId}`);
      throw err;
    }
    if (!(GATED_KINDS as readonly string[]).includes(type))
      throw new HttpError(400, `${workflowId} is a ${type}, which takes no approvals`);
    const kind = type as GatedKind;
    if (!config.approvals[kind].approvers.includes(approver))
      throw new HttpError(403, `${approver} may not approve ${kind}`);
    return { approver, kind };
  }

  /** Signs the decision for this verified Slack user, for the run and plan as they are now, and returns the verdict as text. */
  async function decide(
    workflowId: string,
    approver: string,
    slackUser: string,
    decision: Decision,
    via: 'slack' | 'slash-command',
  ): Promise<{ delivered: boolean; text: string }> {
    const what = `${decision.verb === 'approve' ? 'Approval' : 'Rejection'} by ${approver} via ${via}`;
    try {
      const { runId, approval } = await pendingApproval(client, workflowId);
      if (decision.shown && decision.shown !== approval.planHash)
        return {
          delivered: false,
          text: `:warning: ${what} not delivered: the plan changed after this request was posted (now sha256 ${approval.planHash.slice(0, 16)}): decide on the new request`,
        };
      const proof = signStatement(
        {
          decision: decision.verb,
          workflowId,
          runId,
          planHash: approval.planHash,
          principal: approver,
          slackUser,
          via,
          comment: decision.verb === 'reject' ? decision.reason : decision.comment,
        },
        key!,
      );
      const verdict = await sendDecision(client, workflowId, runId, proof);
      const icon =
        verdict.verdict === 'ignored' ? ':warning:' : decision.verb === 'approve' ? ':white_check_mark:' : ':no_entry:';
      // The comment is the Slack user's own text: escaped like every input that reaches Slack.
      const said =
        decision.verb === 'reject'
          ? `: ${escapeSlack(decision.reason)}`
          : decision.comment
            ? `: ${escapeSlack(decision.comment)}`
            : '';
      return { delivered: true, text: `${icon} ${what}${said} ${describeVerdict(verdict)}` };
    } catch (err) {
      if (err instanceof DecisionError)
        return { delivered: false, text: `:warning: ${what} not delivered: ${err.message}` };
      logger.error({ workflowId, err: (err as Error).message }, 'decision could not be sent');
      return { delivered: false, text: `:warning: ${what} not delivered: ${(err as Error).message.split('\n')[0]}` };
    }
  }

  /** Slack wants an answer within 3 s: acknowledge now, deliver the verdict to the response_url when it is known. */
  function decideLater(
    workflowId: string,
    approver: string,
    slackUser: string,
    decision: Decision,
    via: 'slack' | 'slash-command',
    responseUrl: string | undefined,
  ): Promise<void> {
    const task = decide(workflowId, approver, slackUser, decision, via)
      .then(async ({ delivered, text }) => {
        metrics.decisions.inc({ via, result: delivered ? 'delivered' : 'not-delivered' });
        logger.info({ workflowId, approver, via, verdict: text.slice(0, 200) }, 'decision sent');
        await updateSlackMessage(responseUrl, text);
      })
      .catch((err: Error) => logger.error({ err: err.message }, 'verdict could not be posted'))
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
    return task;
  }

  function requireKey(): void {
    if (!key)
      throw new HttpError(
        503,
        'the bridge has no signing key (BRIDGE_SIGNING_KEY_FILE); refusing to relay unsigned decisions',
      );
  }

  function updateSlackMessage(responseUrl: string | undefined, text: string): Promise<void> {
    return respond(responseUrl, { replace_original: true, ...section(text) });
  }

  async function respond(responseUrl: string | undefined, body: object): Promise<void> {
    if (!responseUrl) return;
    if (!responseUrl.startsWith(config.bridge.responseUrlPrefix)) {
      logger.warn({ responsePrefix: responseUrl.slice(0, 30) }, 'response_url outside the Slack prefix; not posting');
      return;
    }
    const res = await fetch(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    }).catch((err: Error) => ({ ok: false, status: err.message }));
    if (!res.ok) logger.warn({ status: res.status }, 'could not update the Slack message');
  }

  /**
   * A task button: the Slack user mapped to a person, the reason a blocked or not-applicable task
   * needs, then a statement signed for that person, run, item and status, recorded by recordSignOff
   * (which checks the person holds the item's owner or backup role). Refused: nothing is recorded.
   */
  async function signOffTask(slackUser: string, value: string, status: SignOffStatus, reason: string | undefined) {
    const person = slackUsers.get(slackUser);
    if (!person) throw new HttpError(403, `Slack user ${slackUser} is not mapped to a person (approvals.slackUsers)`);
    let ref: TaskRef;
    try {
      ref = TaskRefSchema.parse(JSON.parse(value));
    } catch {
      throw new HttpError(400, 'payload.actions[0].value: expected a task reference');
    }
    const label = TASK_BUTTONS[status].label;
    if (needsReason(status, reason))
      throw new HttpError(
        400,
        `${label} needs a reason: type it in the Reason box, then click ${label} again (nothing was recorded)`,
      );
    requireKey();
    const report = await storedReport(reports, ref.workflowId, ref.runId);
    if (!report) throw new HttpError(404, `no stored run ${ref.workflowId} (run ${ref.runId})`);
    const run = { workflowId: ref.workflowId, runId: ref.runId, kind: report.kind };
    try {
      const item = taskItem(run.kind, ref.item);
      const proof = signStatement(
        {
          decision: 'approve',
          workflowId: run.workflowId,
          runId: run.runId,
          planHash: planHash(signOffPlan(run.kind, item, status)),
          principal: person,
          slackUser,
          via: 'slack',
          comment: reason,
        },
        key!,
      );
      const roles = { approvals: config.approvals, roles: config.checklistRoles };
      const signed = await recordSignOff(reports, roles, run, item.id, proof, status);
      metrics.decisions.inc({ via: 'slack-task', result: 'delivered' });
      logger.info({ workflowId: run.workflowId, item: item.id, person, status }, 'task signed off');
      const said = `${label} by ${escapeSlack(person)} at ${signed.at}${reason ? `: ${escapeSlack(reason)}` : ''}`;
      // A blocked task keeps its buttons: whoever unblocks it signs it again.
      return status === 'blocked'
        ? taskSlackMessage(run, item, `:no_entry: ${said}`)
        : section(`${status === 'done' ? ':white_check_mark:' : ':heavy_minus_sign:'} ${item.id}: ${said}`);
    } catch (err) {
      if (err instanceof SignOffError) throw new HttpError(403, err.message);
      throw err;
    }
  }

  function fail(reply: FastifyReply, err: unknown) {
    if (err instanceof HttpError) return reply.code(err.statusCode).send({ error: err.message });
    logger.error({ err: (err as Error).message }, 'bridge request failed');
    return reply.code(500).send({ error: 'internal error' });
  }

  // Also on the public port, for a quick check by hand; probes use the health port.
  app.get('/healthz', async () => bridgeHealth(app, config, key));

  app.post('/slack/interactions', limited, async (req, reply) => {
    try {
      const form = verify(req);
      let json: unknown;
      try {
        json = JSON.parse(form.get('payload') ?? '');
      } catch {
        throw new HttpError(400, 'payload is not JSON');
      }
      const parsed = InteractionPayloadSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new HttpError(
          400,
          `payload${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${issue.message}`,
        );
      }
      const payload = parsed.data;
      const action = payload.actions[0]!;
      const user = payload.user.id;
      const status = TASK_STATUS.get(action.action_id);
      if (status) {
        const reason = payload.state?.values[TASK_REASON.blockId]?.[TASK_REASON.actionId]?.value ?? undefined;
        try {
          const signed = await signOffTask(user, action.value, status, reason?.trim() || undefined);
          await respond(payload.response_url, { replace_original: true, ...signed });
        } catch (err) {
          // The clicker sees why, under the message, which keeps its buttons.
          if (err instanceof HttpError)
            await respond(payload.response_url, {
              response_type: 'ephemeral',
              replace_original: false,
              text: `:warning: ${escapeSlack(err.message)}`,
            });
          throw err;
        }
        return reply.code(200).send();
      }
      const button = parseApprovalButton(action.value);
      if (!button)
        throw new HttpError(400, 'payload.actions[0].value: expected a workflow id, or its id and plan hash as JSON');
      const { approver } = await authorize(user, button.workflowId);
      requireKey();
      const decision: Decision =
        action.action_id === 'approve'
          ? { verb: 'approve', shown: button.planHash }
          : { verb: 'reject', reason: 'rejected in Slack', shown: button.planHash };
      // Acknowledge once the decision reached the run (Slack allows 3 s): a bridge killed before then
      // never said 200, so the approver sees the click fail and clicks again (npm run chaos).
      const delivered = decideLater(button.workflowId, approver, user, decision, 'slack', payload.response_url);
      await Promise.race([delivered, new Promise((r) => setTimeout(r, SLACK_ACK_WITHIN_MS))]);
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
      if (verb === 'reject' && !words)
        throw new HttpError(400, 'a rejection needs a reason: /maint reject <workflowId> <reason>');
      const { approver } = await authorize(user, workflowId);
      requireKey();
      const decision: Decision =
        verb === 'approve' ? { verb: 'approve', comment: words || undefined } : { verb: 'reject', reason: words };
      decideLater(workflowId, approver, user, decision, 'slash-command', form.get('response_url') ?? undefined);
      return reply.send({
        response_type: 'ephemeral',
        text: `${verb === 'approve' ? 'Approval' : 'Rejection'} by ${approver} received; the verdict follows here.`,
      });
    } catch (err) {
      return fail(reply, err);
    }
  });

  return app;
}

function bridgeHealth(app: FastifyInstance, config: Config, key: SigningKey | undefined) {
  return {
    ok: app.server.listening,
    signingSecretConfigured: Boolean(config.slack.signingSecret),
    signingKey: key?.fingerprint ?? null,
  };
}

/** The health port answers 503 once the bridge's event loop has not ticked for this long. */
const STALLED_AFTER_MS = 5_000;

/**
 * The health port's server, run in a worker thread: under a flood the bridge's event loop is busy
 * accepting and cutting off connections, and probes queued behind that work timed out (p99 926 ms
 * in `npm run bench -- abuse`). The thread judges liveness by a heartbeat the bridge's loop writes to
 * shared memory, and asks that loop for /metrics. Plain JavaScript, evaluated: it runs the same
 * under tsx, vitest and the compiled build.
 */
const HEALTH_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const { host, port, stalledAfterMs, info, contentType } = workerData;
const shared = new BigInt64Array(workerData.shared); // [0] last tick of the bridge's loop (ms), [1] public port listening (1n)
const waiting = new Map();
let nextId = 0;
parentPort.on('message', ({ id, text }) => waiting.get(id)?.(text));
const server = http.createServer({ requestTimeout: 5000, headersTimeout: 2000, connectionsCheckingInterval: 1000 }, (req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    const eventLoopLagMs = Date.now() - Number(Atomics.load(shared, 0));
    const listening = Atomics.load(shared, 1) === 1n;
    const ok = listening && eventLoopLagMs < stalledAfterMs;
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok, listening, eventLoopLagMs, ...info }));
  } else if (req.method === 'GET' && req.url === '/metrics') {
    const id = nextId++;
    const timer = setTimeout(() => {
      waiting.delete(id);
      res.writeHead(503).end('the bridge did not answer within 2 s\\n');
    }, 2000);
    waiting.set(id, (text) => {
      waiting.delete(id);
      clearTimeout(timer);
      res.writeHead(200, { 'content-type': contentType }).end(text);
    });
    parentPort.postMessage({ id });
  } else {
    res.writeHead(404).end();
  }
});
server.maxConnections = 64;
server.once('error', (err) => parentPort.postMessage({ error: err.message }));
server.listen(port, host, () => parentPort.postMessage({ port: server.address().port }));
`;

export interface RunningBridge {
  app: FastifyInstance;
  url: string;
  /** GET /healthz (200 while the public port listens and the event loop ticks) and GET /metrics. */
  healthUrl: string;
  close(): Promise<void>;
}

/** The bridge listening on its public port and, apart, on its health port (see HEALTH_THREAD). */
export async function startBridge(
  deps: Omit<BridgeDeps, 'metrics'>,
  { host = deps.config.bridge.host, port = deps.config.bridge.port, healthPort = deps.config.bridge.healthPort } = {},
): Promise<RunningBridge> {
  const metrics = createBridgeMetrics();
  const app = await createBridge({ ...deps, metrics });
  await app.listen({ host, port });
  const shared = new BigInt64Array(new SharedArrayBuffer(16));
  const tick = () => {
    Atomics.store(shared, 0, BigInt(Date.now()));
    Atomics.store(shared, 1, app.server.listening ? 1n : 0n);
  };
  tick();
  const heartbeat = setInterval(tick, 250);
  const key = loadBridgeKey(deps.config);
  const info = {
    signingSecretConfigured: Boolean(deps.config.slack.signingSecret),
    signingKey: key?.fingerprint ?? null,
  };
  const thread = new Worker(HEALTH_THREAD, {
    eval: true,
    workerData: {
      host,
      port: healthPort,
      stalledAfterMs: STALLED_AFTER_MS,
      info,
      contentType: metrics.registry.contentType,
      shared: shared.buffer,
    },
  });
  thread.on('error', (err) =>
    deps.logger.error({ err: err.message }, 'bridge health thread failed; the health port no longer answers'),
  );
  thread.on('message', (m: { id?: number }) => {
    if (m.id === undefined) return;
    void metrics.registry.metrics().then(
      (text) => thread.postMessage({ id: m.id, text }),
      (err: Error) => thread.postMessage({ id: m.id, text: `# ${err.message}\n` }),
    );
  });
  const close = async () => {
    clearInterval(heartbeat);
    await app.close();
    await thread.terminate();
  };
  try {
    const listening = await new Promise<number>((resolve, reject) => {
      thread.once('message', (m: { port?: number; error?: string }) =>
        m.port === undefined ? reject(new Error(m.error)) : resolve(m.port),
      );
      thread.once('error', reject);
      thread.once('exit', (code) => reject(new Error(`health thread exited with ${code}`)));
    });
    return {
      app,
      url: urlOf(app.server.address() as AddressInfo),
      healthUrl: urlOf({ address: host, port: listening }),
      close,
    };
  } catch (err) {
    await close();
    throw new Error(`bridge health port ${healthPort}: ${(err as Error).message}`);
  }
}

const urlOf = ({ address, port }: { address: string; port: number }) =>
  `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.logLevel);
  const client = await connectClient(config);
  const bridge = await startBridge({ config, client, logger });
  logger.info(
    {
      port: config.bridge.port,
      healthPort: config.bridge.healthPort,
      signingSecret: config.slack.signingSecret ? 'configured' : 'missing: every Slack request is refused',
      signingKey: loadBridgeKey(config)?.fingerprint ?? 'missing: decisions are refused (503)',
    },
    'approval bridge listening',
  );
  const stop = async () => {
    await bridge.close();
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
