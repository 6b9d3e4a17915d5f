// A real OCI distribution registry (Debian's docker-registry, installed by scripts/bootstrap.sh)
// on a loopback port of its own; images are "pushed" as a client would, through its HTTP API: one
// config blob, then a manifest per tag (no layers: nothing pulls them, kwok runs no containers).
// Open, or with `auth: token` (tokens from a test token server) or `auth: htpasswd` (Basic).
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/net.js';
import { waitUntil } from './cluster.js';
import type { TokenServer } from './token-server.js';

export type RegistryAuth = { token: TokenServer } | { basic: { username: string; password: string } };

/** bcrypt, as htpasswd files hold it: the system's crypt(3) through perl (no bcrypt in node:crypto). */
function bcrypt(password: string): string {
  const salt = randomBytes(16).toString('base64').replace(/[+=]/g, '.').slice(0, 22);
  return execFileSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, `$2b$05$${salt}`], {
    encoding: 'utf8',
  });
}

function authSection(dir: string, auth: RegistryAuth | undefined): string {
  if (!auth) return '';
  if ('token' in auth)
    return `auth:
  token:
    realm: ${auth.token.realm}
    service: ${auth.token.service}
    issuer: ${auth.token.issuer}
    rootcertbundle: ${auth.token.certFile}
`;
  writeFileSync(join(dir, 'htpasswd'), `${auth.basic.username}:${bcrypt(auth.basic.password)}\n`);
  return `auth:
  htpasswd:
    realm: maint-test
    path: ${join(dir, 'htpasswd')}
`;
}

export interface TestRegistry {
  /** The registry's API base, e.g. http://127.0.0.1:PORT. */
  url: string;
  /** host:port, as image references name it. */
  host: string;
  push(repository: string, tags: string[]): Promise<void>;
  stop(): Promise<void>;
}

export async function startRegistry(auth?: RegistryAuth): Promise<TestRegistry> {
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
${authSection(dir, auth)}`,
  );
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://${host}`;
  await waitUntil(
    'the registry to answer /v2/',
    async () =>
      (await fetch(`${url}/v2/`).then(
        (r) => r.status === (auth ? 401 : 200),
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
      // The pushing side logs in too: a token for pull and push, or the Basic credentials.
      const authorization: Record<string, string> = !auth
        ? {}
        : 'token' in auth
          ? { authorization: `Bearer ${auth.token.mint('pusher', [`repository:${repository}:pull,push`])}` }
          : {
              authorization: `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`).toString('base64')}`,
            };
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
      const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
      const upload = await check(
        await fetch(`${url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: authorization }),
        'a blob upload',
      );
      const location = new URL(upload.headers.get('location')!, url);
      location.searchParams.set('digest', digest);
      await check(
        await fetch(location, {
          method: 'PUT',
          headers: { ...authorization, 'content-type': 'application/octet-stream' },
          body: config,
        }),
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
            headers: { ...authorization, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
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
