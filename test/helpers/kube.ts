import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { reportReboot } from '../../dev/kube-local/reboot.js';
import type { NodeUpdateInput } from '../../workflows/node-update.js';

/** Runs an activity function with a real activity context (heartbeats, sleep), outside a worker. */
export function runActivity<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The control plane's kubelet version, and the one the update hook "upgrades" nodes to. */
export const VERSION = 'v1.34.2';
export const NEXT_VERSION = 'v1.35.0';

/**
 * Node update options at test pace, sized for the real control plane on a loaded machine: they
 * bound a run; the tests wait for states.
 */
export const TEST_PACE_NODE_UPDATE = {
  drain: { timeout: '60s', pollInterval: 200, evictionRetry: 250 },
  readyTimeout: '60s',
  pollInterval: 200,
} satisfies Partial<NodeUpdateInput>;

/**
 * Stands in for the automation that updates a node: a POST `{node}` "reboots" it. After
 * `rebootMs` the node's kubelet reports a new boot id (and `kubeletVersion`, if given), as a real
 * one does when it comes back; kwok keeps the node Ready throughout.
 */
export async function startUpdateHook(
  kc: KubeConfig,
  rebootMs: number,
  kubeletVersion?: string,
): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const reboots: Promise<unknown>[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const { node } = JSON.parse(body) as { node: string };
      requests.push(node);
      reboots.push(rebootNode(kc, node, rebootMs, kubeletVersion).catch(() => undefined));
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/update`;
  return {
    url,
    requests,
    close: async () => {
      await new Promise((r) => server.close(() => r(undefined)));
      await Promise.all(reboots);
    },
  };
}

/** After `delayMs`, the node reports a new boot id (and kubelet version) in its status. */
export async function rebootNode(
  kc: KubeConfig,
  node: string,
  delayMs: number,
  kubeletVersion?: string,
): Promise<void> {
  await sleep(delayMs);
  await reportReboot(kc, node, kubeletVersion);
}
