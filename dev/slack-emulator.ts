// The Slack of `npm run up` when none is configured: the product's incoming webhooks (reports,
// alerts, checklist tasks) post here; a page (and GET /messages) shows each message with its
// buttons; a click is sent to the approval bridge as Slack sends it (a block_actions payload,
// signed with the signing secret, stamped now), and the bridge's answer to the response_url
// replaces the message or is shown under it. Loopback only, in memory, appended to a log file.
import { appendFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { escapeSlack } from '../domain/text.js';
import { slackHeaders } from './slack-signing.js';

export interface SlackUser {
  /** The Slack user id the bridge maps to a person (approvals.slackUsers). */
  id: string;
  /** Shown on the page and sent as the user's name. */
  name: string;
}

export interface SlackEmulatorOptions {
  host?: string;
  /** 0: any free port. */
  port: number;
  /** The approval bridge, whose /slack/interactions receives the clicks; may be set once the bridge is up. */
  bridgeUrl?: string;
  /** The bridge's SLACK_SIGNING_SECRET: clicks are signed with it. */
  signingSecret: string;
  /** Who clicks, unless a /click names another. */
  user: SlackUser;
  /** Every message, replacement and click is appended here as one line. */
  logFile?: string;
}

export interface EmulatedButton {
  blockId?: string;
  actionId: string;
  label: string;
  value?: string;
  style?: string;
}

export interface EmulatedMessage {
  id: number;
  /** The webhook it came through: report, alert, tasks. */
  channel: string;
  at: string;
  text: string;
  blocks: unknown[];
  /** The message's buttons and text boxes as they are now (a replacement may remove them). */
  buttons: EmulatedButton[];
  inputs: { blockId: string; actionId: string; label: string }[];
  /** When the bridge replaced the message through its response_url. */
  replacedAt?: string;
  /** Under the message: what each click got back, and what the bridge showed the clicker alone. */
  notes: string[];
}

/** How a click is signed: as Slack does, with a signature that does not match, or not at all. */
export type ClickSigning = 'valid' | 'tampered' | 'none';

export interface ClickRequest {
  message: number;
  action: string;
  /** What the message's text box holds (the task's Reason box). */
  reason?: string;
  /** Another Slack user id than the emulator's. */
  user?: string;
  signing?: ClickSigning;
}

export interface ClickResult {
  /** The bridge's HTTP status. */
  status: number;
  /** Its answer: `{ error }` on a refusal, empty on success. */
  body: unknown;
  /** The message after the click (the bridge answers its response_url before its 200). */
  message: EmulatedMessage;
}

export interface SlackEmulator {
  url: string;
  /** Where clicks go; set it when the bridge starts after the emulator. */
  bridgeUrl: string | undefined;
  messages(): EmulatedMessage[];
  click(request: ClickRequest): Promise<ClickResult>;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;
const TEAM = { id: 'T0EMULATED', domain: 'trixtech-local' };
const APP_ID = 'A0EMULATED';

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Block {
  type?: string;
  block_id?: string;
  text?: { text?: string };
  label?: { text?: string };
  element?: { type?: string; action_id?: string };
  elements?: {
    type?: string;
    action_id?: string;
    text?: { text?: string } | string;
    value?: string;
    style?: string;
  }[];
}

function buttonsOf(blocks: Block[]): EmulatedButton[] {
  return blocks
    .filter((b) => b.type === 'actions')
    .flatMap((b) =>
      (b.elements ?? [])
        .filter((e) => e.type === 'button' && e.action_id)
        .map((e) => ({
          blockId: b.block_id,
          actionId: e.action_id!,
          label: typeof e.text === 'object' ? (e.text.text ?? e.action_id!) : e.action_id!,
          value: e.value,
          style: e.style,
        })),
    );
}

function inputsOf(blocks: Block[]): EmulatedMessage['inputs'] {
  return blocks
    .filter((b) => b.type === 'input' && b.block_id && b.element?.type === 'plain_text_input' && b.element.action_id)
    .map((b) => ({ blockId: b.block_id!, actionId: b.element!.action_id!, label: b.label?.text ?? '' }));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new RequestError(413, 'body over 1 MB'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new RequestError(400, `${what} is not a JSON object`);
}

export async function startSlackEmulator(options: SlackEmulatorOptions): Promise<SlackEmulator> {
  const messages: EmulatedMessage[] = [];
  let url = '';
  const log = (line: string) => {
    if (options.logFile) appendFileSync(options.logFile, `${new Date().toISOString()} ${line.replace(/\n/g, ' ⏎ ')}\n`);
  };

  const find = (id: number) => {
    const m = messages.find((x) => x.id === id);
    if (!m) throw new RequestError(404, `no message ${id}`);
    return m;
  };

  function post(channel: string, body: Record<string, unknown>): EmulatedMessage {
    const blocks = Array.isArray(body.blocks) ? (body.blocks as Block[]) : [];
    const text = typeof body.text === 'string' ? body.text : '';
    if (!text && blocks.length === 0) throw new RequestError(400, 'no_text');
    const m: EmulatedMessage = {
      id: messages.length + 1,
      channel,
      at: new Date().toISOString(),
      text,
      blocks,
      buttons: buttonsOf(blocks),
      inputs: inputsOf(blocks),
      notes: [],
    };
    messages.push(m);
    log(`#${channel} [${m.id}] ${text}`);
    return m;
  }

  /** What the bridge sends to a response_url: a replacement, or a note shown to the clicker alone. */
  function respond(m: EmulatedMessage, body: Record<string, unknown>): void {
    const text = typeof body.text === 'string' ? body.text : '';
    if (body.replace_original === true) {
      const blocks = Array.isArray(body.blocks) ? (body.blocks as Block[]) : [];
      Object.assign(m, { text, blocks, buttons: buttonsOf(blocks), inputs: inputsOf(blocks) });
      m.replacedAt = new Date().toISOString();
      log(`[${m.id}] replaced by the bridge: ${text}`);
    } else {
      m.notes.push(`only you can see this: ${text}`);
      log(`[${m.id}] shown to the clicker: ${text}`);
    }
  }

  /** The block_actions payload Slack sends when `user` clicks `button` of `m`, with the text boxes holding `reason`. */
  function interaction(m: EmulatedMessage, button: EmulatedButton, user: SlackUser, reason: string | undefined) {
    const ts = (Date.parse(m.at) / 1000).toFixed(6);
    const channel = { id: `C0${m.channel.toUpperCase().replace(/[^A-Z0-9]/g, '')}`, name: m.channel };
    return {
      type: 'block_actions',
      user: { id: user.id, username: user.name, name: user.name, team_id: TEAM.id },
      api_app_id: APP_ID,
      token: 'emulated',
      container: { type: 'message', message_ts: ts, channel_id: channel.id, is_ephemeral: false },
      trigger_id: `${Date.now()}.emulated`,
      team: TEAM,
      enterprise: null,
      is_enterprise_install: false,
      channel,
      message: { type: 'message', subtype: 'bot_message', ts, text: m.text, blocks: m.blocks },
      state: {
        values: Object.fromEntries(
          m.inputs.map((i) => [
            i.blockId,
            { [i.actionId]: { type: 'plain_text_input', value: reason?.length ? reason : null } },
          ]),
        ),
      },
      response_url: `${url}/respond/${m.id}`,
      actions: [
        {
          action_id: button.actionId,
          block_id: button.blockId,
          text: { type: 'plain_text', text: button.label, emoji: true },
          value: button.value,
          ...(button.style ? { style: button.style } : {}),
          type: 'button',
          action_ts: (Date.now() / 1000).toFixed(6),
        },
      ],
    };
  }

  async function click(request: ClickRequest): Promise<ClickResult> {
    if (!emulator.bridgeUrl) throw new RequestError(503, 'no bridge to send clicks to yet');
    const m = find(request.message);
    const button = m.buttons.find((b) => b.actionId === request.action);
    if (!button)
      throw new RequestError(
        400,
        `message ${m.id} has no button '${String(request.action).slice(0, 60)}' (it has: ${m.buttons.map((b) => b.actionId).join(', ') || 'none'})`,
      );
    const user = request.user ? { id: request.user, name: request.user } : options.user;
    const body = new URLSearchParams({
      payload: JSON.stringify(interaction(m, button, user, request.reason)),
    }).toString();
    const signing = request.signing ?? 'valid';
    const headers = slackHeaders(body, options.signingSecret);
    if (signing === 'tampered')
      headers['x-slack-signature'] = headers['x-slack-signature']!.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    if (signing === 'none') {
      delete headers['x-slack-signature'];
      delete headers['x-slack-request-timestamp'];
    }
    const res = await fetch(`${emulator.bridgeUrl}/slack/interactions`, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(10_000),
    });
    const raw = await res.text();
    let answer: unknown = raw;
    try {
      answer = raw ? JSON.parse(raw) : '';
    } catch {
      // not JSON: kept as text
    }
    const error = (answer as { error?: unknown } | null)?.error;
    // Kept as Slack text (escaped), like the bridge's own replies, so the page shows it as written.
    const said = `${button.label} clicked as ${user.name}${signing === 'valid' ? '' : ` (signature ${signing})`}: bridge answered ${res.status}${typeof error === 'string' ? `: ${escapeSlack(error)}` : ''}`;
    m.notes.push(said);
    log(`[${m.id}] ${said}`);
    return { status: res.status, body: answer, message: m };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://emulator').pathname;
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page(messages, options.user));
      return;
    }
    if (req.method === 'GET' && path === '/messages') return send(200, messages);
    const hook = /^\/hooks\/([a-z0-9-]{1,40})$/.exec(path);
    if (req.method === 'POST' && hook) {
      post(hook[1]!, parseJson(await readBody(req), 'the webhook body'));
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const response = /^\/respond\/(\d{1,9})$/.exec(path);
    if (req.method === 'POST' && response) {
      respond(find(Number(response[1])), parseJson(await readBody(req), 'the response'));
      return send(200, { ok: true });
    }
    if (req.method === 'POST' && path === '/click') {
      const raw = await readBody(req);
      // The page's forms post a form and come back to the page; scripts and tests post JSON.
      if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        const form = new URLSearchParams(raw);
        const id = Number(form.get('message'));
        await click({ message: id, action: form.get('action') ?? '', reason: form.get('reason') ?? undefined }).catch(
          (err: Error) => messages.find((m) => m.id === id)?.notes.push(`click failed: ${escapeSlack(err.message)}`),
        );
        res.writeHead(303, { location: `/#m${id}` }).end();
        return;
      }
      const body = parseJson(raw, 'the click');
      const signing = body.signing ?? 'valid';
      if (!['valid', 'tampered', 'none'].includes(signing as string))
        throw new RequestError(400, 'signing: expected valid, tampered or none');
      if (typeof body.message !== 'number' || typeof body.action !== 'string')
        throw new RequestError(400, 'expected { "message": <id>, "action": "<action_id>", "reason"?: "<text>" }');
      const reason = typeof body.reason === 'string' ? body.reason : undefined;
      const user = typeof body.user === 'string' ? body.user : undefined;
      return send(
        200,
        await click({ message: body.message, action: body.action, reason, user, signing: signing as ClickSigning }),
      );
    }
    send(404, { error: `no ${req.method} ${path}` });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (res.headersSent) return;
      const status = err instanceof RequestError ? err.status : 502;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.message }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  url = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  const emulator: SlackEmulator = {
    url,
    bridgeUrl: options.bridgeUrl,
    messages: () => messages,
    click,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return emulator;
}

// --- The page -------------------------------------------------------------------------------

const html = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Slack mrkdwn as HTML: `<@U…>` mentions, `<url|label>` links, and Slack's own escapes (&amp; &lt; &gt;) undone. */
function mrkdwn(text: string): string {
  const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return text
    .split(/(<[^<>]+>)/)
    .map((part) => {
      const m = /^<([^<>]+)>$/.exec(part);
      if (!m) return html(unescape(part));
      const [target, label] = m[1]!.split('|');
      if (target!.startsWith('@')) return `<b>@${html(target!.slice(1))}</b>`;
      if (/^https?:\/\//.test(target!))
        return `<a href="${html(unescape(target!))}">${html(unescape(label ?? target!))}</a>`;
      return html(unescape(label ?? target!));
    })
    .join('');
}

function blockHtml(b: Block): string {
  if (b.type === 'section' || b.type === 'header') return `<div class="text">${mrkdwn(b.text?.text ?? '')}</div>`;
  if (b.type === 'context')
    return `<div class="context">${(b.elements ?? []).map((e) => mrkdwn(typeof e.text === 'string' ? e.text : (e.text?.text ?? ''))).join(' ')}</div>`;
  if (b.type === 'input' && b.element?.type === 'plain_text_input')
    return `<label>${html(b.label?.text ?? '')}<br><input name="reason" size="60" maxlength="1000"></label>`;
  if (b.type === 'actions')
    return `<div class="actions">${buttonsOf([b])
      .map(
        (x) =>
          `<button name="action" value="${html(x.actionId)}" class="${html(x.style ?? '')}">${html(x.label)}</button>`,
      )
      .join(' ')}</div>`;
  return '';
}

/** Each message is a form; its first, disabled button keeps Enter in the Reason box from clicking Done. */
function page(messages: EmulatedMessage[], user: SlackUser): string {
  const items = [...messages]
    .reverse()
    .map(
      (m) => `<form id="m${m.id}" class="msg ${html(m.channel)}" method="post" action="/click">
<input type="hidden" name="message" value="${m.id}"><button type="submit" disabled hidden></button>
<div class="meta">#${html(m.channel)} · [${m.id}] · ${html(m.at)}${m.replacedAt ? ` · replaced by the bridge ${html(m.replacedAt)}` : ''}</div>
${m.blocks.length ? (m.blocks as Block[]).map(blockHtml).join('\n') : `<div class="text">${mrkdwn(m.text)}</div>`}
${m.notes.map((n) => `<div class="note">${mrkdwn(n)}</div>`).join('\n')}
</form>`,
    )
    .join('\n');
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Slack (emulated) · TRIXTECH maintenance</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #1d1c1d; }
.msg { border: 1px solid #ddd; border-radius: 6px; padding: .7em 1em; margin: .8em 0; }
.tasks { border-left: 4px solid #2eb67d; } .alert { border-left: 4px solid #e01e5a; }
.meta, .context { color: #616061; font-size: 12px; margin-bottom: .3em; }
.text { white-space: pre-wrap; margin: .3em 0; }
.note { color: #8a5a00; background: #fff8e5; padding: .3em .5em; margin-top: .4em; white-space: pre-wrap; }
button { margin: .4em .3em 0 0; padding: .3em .9em; } button.primary { background: #007a5a; color: #fff; }
button.danger { background: #e01e5a; color: #fff; } input { margin-top: .3em; }
</style></head><body>
<h1>Slack (emulated)</h1>
<p>What the maintenance platform posted: reports, alerts and checklist tasks, newest first. A button
is sent to the approval bridge as Slack would send it, signed, as <b>${html(user.name)}</b> (Slack
user ${html(user.id)}). Blocked and Not applicable need the Reason box. JSON: <code>GET /messages</code>,
<code>POST /click {"message": &lt;id&gt;, "action": "task-done", "reason": "…"}</code>.</p>
${items || '<p>No messages yet.</p>'}
<script>
// New messages appear without losing what is being typed in a Reason box.
let seen = ${messages.length};
setInterval(async () => {
  const now = (await (await fetch('/messages')).json()).length;
  if (now !== seen && !(document.activeElement instanceof HTMLInputElement && document.activeElement.value)) location.reload();
}, 3000);
</script>
</body></html>`;
}
