// One attacker of `npm run bench -- abuse`, in a process of its own (its sockets count against its
// own file-handle limit, its work against its own event loop). Loopback only. Started with
// `<kind> <bridge url> <count> <first source index>`; says 'ready', floods from the parent's 'go'
// until its 'stop' (or FLOOD_MS + 5 s), then closes everything and sends its counts back.
import { createHmac } from 'node:crypto';
import { request, type RequestOptions } from 'node:http';
import { connect, type Socket } from 'node:net';

type Kind = 'forged' | 'bodies' | 'slow';
const [kind, target, countArg, firstSourceArg] = process.argv.slice(2) as [Kind, string, string, string];
const { hostname, port } = new URL(target);
const count = Number(countArg);
const firstSource = Number(firstSourceArg);
const FLOOD_MS = 10_000;
const BIG_BODY = 10 * 1024 * 1024;

const counts: Record<string, number> = {};
const tally = (what: string) => (counts[what] = (counts[what] ?? 0) + 1);
const sockets = new Set<Socket>();
const timers: NodeJS.Timeout[] = [];
let stopped = false;

/** Source address number `n` on loopback (127.1.x.y): attackers come from their own addresses, never Slack's 127.0.0.1. */
const source = (n: number) => `127.1.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;

function forgedHeaders(body: string): Record<string, string> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': timestamp,
    'x-slack-signature': `v0=${createHmac('sha256', 'a-guess').update(`v0:${timestamp}:${body}`).digest('hex')}`,
  };
}

/** A POST to the bridge's interactions endpoint on a fresh connection from `from`. */
function toInteractions(from: string, timeout: number, headers: Record<string, string>): RequestOptions {
  return {
    host: hostname,
    port,
    path: '/slack/interactions',
    method: 'POST',
    agent: false,
    localAddress: from,
    headers,
    timeout,
  };
}

/** One forged click on a fresh connection: 401 while under the rate limit, 429 after. */
function forge(from: string, done: () => void): void {
  const body = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'UMALLORY' }, actions: [{ action_id: 'approve', value: 'x' }] }))}`;
  const req = request(toInteractions(from, 5_000, forgedHeaders(body)), (res) => {
    tally(String(res.statusCode));
    res.resume();
  });
  req.on('error', () => tally('error'));
  req.on('timeout', () => req.destroy());
  req.on('close', done);
  req.end(body);
}

/** 1,000 forged requests a second (paced by the clock, not by timer ticks) from `count` addresses, at most 2,000 unanswered at once. */
function forged(): void {
  const started = Date.now();
  let pending = 0;
  let n = 0;
  timers.push(
    setInterval(() => {
      const due = Math.min(FLOOD_MS, Date.now() - started) - n;
      for (let i = 0; i < due; i++, n++) {
        if (pending >= 2_000) {
          tally('not sent (2000 unanswered)');
          continue;
        }
        pending++;
        tally('sent');
        forge(source(firstSource + (n % count)), () => pending--);
      }
    }, 10),
  );
}

/** `count` uploads of 10 MB at a time, half with Content-Length, half chunked, sent as fast as the bridge reads. */
function bodies(): void {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const upload = (n: number) => {
    if (stopped) return;
    const chunked = n % 2 === 1;
    const req = request(
      toInteractions(source(firstSource + (n % count)), 10_000, {
        ...forgedHeaders(''),
        ...(chunked ? {} : { 'content-length': String(BIG_BODY) }),
      }),
      (res) => {
        tally(String(res.statusCode));
        res.resume();
      },
    );
    let sent = 0;
    const pump = () => {
      while (sent < BIG_BODY && !req.destroyed) {
        sent += chunk.length;
        counts.mb_offered = (counts.mb_offered ?? 0) + chunk.length / 1024 / 1024;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!req.destroyed) req.end();
    };
    req.on('error', () => tally('closed while uploading'));
    req.on('timeout', () => req.destroy());
    req.on('close', () => upload(n + count));
    tally('uploads');
    pump();
  };
  for (let i = 0; i < count; i++) upload(i);
}

/**
 * `count` connections that never finish their request, opened over 5 s from 100 per address (so
 * the rate limit does not stop them): even ones trickle a body byte a second, odd ones a header line.
 */
function slow(): void {
  const open = (n: number) => {
    if (stopped) return;
    const socket = connect({
      host: hostname,
      port: Number(port),
      localAddress: source(firstSource + Math.floor(n / 100)),
    });
    sockets.add(socket);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (received += d));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      tally('connected');
      socket.write(
        n % 2 === 0
          ? `POST /slack/interactions HTTP/1.1\r\nhost: bridge\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 4096\r\n\r\n`
          : `POST /slack/interactions HTTP/1.1\r\nhost: bridge\r\n`,
      );
      const trickle = setInterval(() => socket.writable && socket.write(n % 2 === 0 ? 'a' : 'x-pad: a\r\n'), 1_000);
      socket.once('close', () => clearInterval(trickle));
    });
    socket.once('close', () => {
      sockets.delete(socket);
      if (stopped) return;
      const status = /^HTTP\/1\.1 (\d+)/.exec(received)?.[1];
      tally(status ? `closed by the bridge with ${status}` : 'closed by the bridge without an answer');
    });
  };
  const perTick = Math.ceil(count / 500);
  let n = 0;
  const ramp = setInterval(() => {
    for (let i = 0; i < perTick && n < count; i++) open(n++);
    if (n >= count) clearInterval(ramp);
  }, 10);
  timers.push(ramp);
}

function stop(): void {
  if (stopped) return;
  stopped = true;
  for (const t of timers) clearInterval(t);
  counts['still open at the end'] = sockets.size;
  for (const s of sockets) s.destroy();
  if (counts.mb_offered) counts.mb_offered = Math.round(counts.mb_offered);
  process.send!({ kind, counts }, () => process.exit(0));
}

process.on('message', (m) => {
  if (m === 'go') {
    setTimeout(stop, FLOOD_MS + 5_000).unref();
    ({ forged, bodies, slow })[kind]();
  } else if (m === 'stop') {
    stop();
  }
});
process.send!('ready');
