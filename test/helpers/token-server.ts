// A Docker token service (the distribution "token" auth flow) for a real registry started with
// `auth: token`: it checks HTTP Basic credentials against its own users and signs an ES256 JWT
// granting the requested actions the user is allowed. The JWT header carries the signing
// certificate (x5c), a self-signed one made here with openssl that the registry trusts through
// its rootcertbundle. Every request is recorded, so tests can count tokens and see who asked.
import { execFile } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface TokenRequest {
  /** The user whose Basic credentials were presented (checked or not); undefined when none were. */
  user?: string;
  /** The Authorization header as received, so a test can see a secret did (or did not) arrive. */
  authorization?: string;
  scopes: string[];
  status: number;
}

export interface TokenServer {
  /** The realm a registry names in its challenge: http://127.0.0.1:PORT/token. */
  realm: string;
  service: string;
  issuer: string;
  /** The PEM certificate the registry's rootcertbundle must hold. */
  certFile: string;
  requests: TokenRequest[];
  /** expires_in of the tokens it signs from now on, seconds (the JWT's exp follows it). */
  expiresIn: number;
  /** A token for these scopes, signed without a request (for the pushing side). */
  mint(subject: string, scopes: string[]): string;
  stop(): Promise<void>;
}

const base64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** `repository:trixtech/shop:pull,push` as the JWT's access claim entry. */
function parseScope(scope: string) {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',') };
}

export async function startTokenServer(options: {
  /** User name -> password and the actions it may be granted (e.g. ["pull"]). */
  users: Record<string, { password: string; actions: string[] }>;
  expiresIn: number;
}): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'maint-token-server-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=maint-test-token-issuer',
  ]);
  const key = createPrivateKey(readFileSync(keyFile));
  const x5c = [new X509Certificate(readFileSync(certFile)).raw.toString('base64')];
  const service = 'maint-test-registry';
  const issuer = 'maint-test-token-issuer';

  const mint = (subject: string, scopes: string[], allowed?: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c }));
    const claims = base64url(
      JSON.stringify({
        iss: issuer,
        sub: subject,
        aud: service,
        iat: now,
        nbf: now - 1,
        exp: now + self.expiresIn,
        jti: randomUUID(),
        access: scopes.map(parseScope).map((s) => ({
          ...s,
          actions: allowed ? s.actions.filter((a) => allowed.includes(a)) : s.actions,
        })),
      }),
    );
    // JWS ES256 signatures are r||s (IEEE P1363), not DER.
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    return `${header}.${claims}.${base64url(signature)}`;
  };

  const requests: TokenRequest[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://token');
    const authorization = req.headers.authorization;
    const scopes = url.searchParams.getAll('scope');
    const [user, ...rest] = /^Basic (.+)$/.exec(authorization ?? '')
      ? Buffer.from(authorization!.slice(6), 'base64').toString().split(':')
      : [];
    const password = rest.join(':');
    const account = user === undefined ? undefined : options.users[user];
    const answer = (status: number, body: object) => {
      requests.push({ user, authorization, scopes, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return answer(404, { error: 'not found' });
    if (url.searchParams.get('service') !== service) return answer(400, { error: 'unknown service' });
    if (!account || account.password !== password) return answer(401, { error: 'authentication required' });
    const token = mint(user!, scopes, account.actions);
    answer(200, { token, access_token: token, expires_in: self.expiresIn, issued_at: new Date().toISOString() });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const self: TokenServer = {
    expiresIn: options.expiresIn,
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    mint: (subject, scopes) => mint(subject, scopes),
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}
