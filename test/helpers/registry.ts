// A real OCI distribution registry (Debian's docker-registry, installed by scripts/bootstrap.sh)
// on a loopback port of its own; images are "pushed" as a client would, through its HTTP API: one
// config blob, then a manifest per tag (no layers: nothing pulls them, kwok runs no containers).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/net.js';
import { waitUntil } from './cluster.js';

export interface TestRegistry {
  /** The registry's API base, e.g. http://127.0.0.1:PORT. */
  url: string;
  /** host:port, as image references name it. */
  host: string;
  push(repository: string, tags: string[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startRegistry(): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'maint-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
http:
  addr: ${host}
`,
  );
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://${host}`;
  await waitUntil(
    'the registry to answer /v2/',
    async () =>
      (await fetch(`${url}/v2/`).then(
        (r) => r.ok,
        () => false,
      )) || undefined,
    30_000,
  );

  const check = async (res: Response, what: string) => {
    if (!res.ok) throw new Error(`registry answered ${res.status} to ${what}: ${await res.text()}`);
    return res;
  };
  return {
    url,
    host,
    async push(repository, tags) {
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
      const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
      const upload = await check(
        await fetch(`${url}/v2/${repository}/blobs/uploads/`, { method: 'POST' }),
        'a blob upload',
      );
      const location = new URL(upload.headers.get('location')!, url);
      location.searchParams.set('digest', digest);
      await check(
        await fetch(location, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: config }),
        'the config blob',
      );
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length },
        layers: [],
      });
      for (const tag of tags) {
        await check(
          await fetch(`${url}/v2/${repository}/manifests/${tag}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
            body: manifest,
          }),
          `the manifest ${tag}`,
        );
      }
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
