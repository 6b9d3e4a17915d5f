import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackPost {
  path: string;
  body: { text?: string; blocks?: unknown[] };
}

/** Stands in for Slack's incoming webhooks: records what is posted; can be told to fail. */
export class SlackSink {
  readonly posts: SlackPost[] = [];
  failWith: number | null = null;
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        if (this.failWith) {
          res.writeHead(this.failWith).end('error');
          return;
        }
        this.posts.push({ path: req.url ?? '', body: JSON.parse(raw || '{}') });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** The environment of a worker on these databases whose reports and alerts post here. */
  workerEnv(bookingsUrl: string, reportsUrl: string): Record<string, string> {
    return {
      DATABASE_URL: bookingsUrl,
      MAINT_DATABASE_URL: reportsUrl,
      SLACK_WEBHOOK_URL: `${this.url}/report`,
      SLACK_ALERT_WEBHOOK_URL: `${this.url}/alert`,
    };
  }

  postsTo(path: string): SlackPost[] {
    return this.posts.filter((p) => p.path === path);
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}
