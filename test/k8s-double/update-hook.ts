import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeDouble } from './double.js';

/** Stands in for the automation that updates a node: a POST `{node}` reboots it in the double. */
export async function startUpdateHook(k8s: KubeDouble, rebootMs: number, kubeletVersion?: string): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const { node } = JSON.parse(body) as { node: string };
      requests.push(node);
      k8s.rebootNode(node, rebootMs, kubeletVersion);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/update`;
  return { url, requests, close: () => new Promise((r) => server.close(() => r())) };
}
