// findNewestImageTag against real private registries (Debian's docker-registry on loopback): one
// with `auth: token` and a token server of the suite's own, one with `auth: htpasswd` (Basic).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryActivities, parseChallenge, realmRefusal } from '../activities/registry.js';
import { ConfigError } from '../src/config/load.js';
import type { RegistryCredential } from '../src/config/schema.js';
import { waitUntil } from './helpers/cluster.js';
import { refusal } from './helpers/failures.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { testConfig } from './helpers/temporal.js';
import { startTokenServer, type TokenServer } from './helpers/token-server.js';

/** Everything a failure carries that could reach a report, a log or Temporal's history. */
const everything = (err: ApplicationFailure) =>
  JSON.stringify({ message: err.message, type: err.type, details: err.details, stack: err.stack });

describe('registry authentication', () => {
  const password = `pw-${randomUUID()}`;
  let tokens: TokenServer;
  let reg: TestRegistry;
  let basicReg: TestRegistry;
  beforeAll(async () => {
    tokens = await startTokenServer({
      users: { bot: { password, actions: ['pull'] }, nobody: { password, actions: [] } },
      expiresIn: 300,
    });
    [reg, basicReg] = await Promise.all([
      startRegistry({ token: tokens }),
      startRegistry({ basic: { username: 'bot', password } }),
    ]);
    await Promise.all([
      reg.push('trixtech/shop', ['1.0.0', '1.0.1', '1.1.0', '2.0.0']),
      reg.push('trixtech/cart', ['2.3.0', '2.4.0']),
      basicReg.push('trixtech/shop', ['1.0.0', '1.2.0']),
    ]);
  });
  afterAll(async () => {
    await Promise.all([reg?.stop(), basicReg?.stop()]);
    await tokens?.stop();
  });

  const realmHost = () => new URL(tokens.realm).host;
  const acts = (credentials: Record<string, RegistryCredential>) =>
    createRegistryActivities({ targets: [], credentials });
  const newest = (a: ReturnType<typeof acts>, r: TestRegistry, image: string, policy: 'patch' | 'minor' | 'major') =>
    a.findNewestImageTag({ image: `${r.host}/${image}`, policy, registryUrl: r.url });
  const sinceHere = () => {
    const from = tokens.requests.length;
    return () => tokens.requests.slice(from);
  };

  it('finds the newest tag through the token flow, one token per repository while it lasts', async () => {
    const requests = sinceHere();
    const a = acts({ [reg.host]: { username: 'bot', password, realmHost: realmHost() } });
    expect(await newest(a, reg, 'trixtech/shop:1.0.0', 'patch')).toMatchObject({ newest: '1.0.1', tags: 4 });
    expect((await newest(a, reg, 'trixtech/shop:1.0.0', 'minor')).newest).toBe('1.1.0');
    expect((await newest(a, reg, 'trixtech/shop:1.0.0', 'major')).newest).toBe('2.0.0');
    // Three listings, one token: asked with the bot's Basic credentials for the registry's scope.
    expect(requests()).toEqual([
      {
        user: 'bot',
        authorization: `Basic ${Buffer.from(`bot:${password}`).toString('base64')}`,
        scopes: ['repository:trixtech/shop:pull'],
        status: 200,
      },
    ]);
    expect((await newest(a, reg, 'trixtech/cart:2.3.0', 'minor')).newest).toBe('2.4.0');
    expect(requests().map((r) => r.scopes)).toEqual([
      ['repository:trixtech/shop:pull'],
      ['repository:trixtech/cart:pull'],
    ]);

    // Without credentials the realm is asked anonymously, and its 401 is the finding.
    const anonymous = await refusal(newest(acts({}), reg, 'trixtech/shop:1.0.0', 'patch'));
    expect([anonymous.type, anonymous.nonRetryable, anonymous.message]).toEqual([
      'RegistryRefused',
      true,
      `token realm ${tokens.realm} of registry ${reg.url} answered 401 to an anonymous request asking for repository:trixtech/shop:pull (no credentials configured for ${reg.host}: config registries)`,
    ]);
    expect(requests().at(-1)).toMatchObject({ user: undefined, authorization: undefined, status: 401 });
  });

  it('asks the realm again once a token expires', async () => {
    tokens.expiresIn = 2;
    try {
      const requests = sinceHere();
      const a = acts({ [reg.host]: { username: 'bot', password, realmHost: realmHost() } });
      const started = Date.now();
      await newest(a, reg, 'trixtech/shop:1.0.0', 'minor');
      await newest(a, reg, 'trixtech/shop:1.0.0', 'minor');
      expect(requests()).toHaveLength(1);
      await waitUntil('a second token after the first expired', async () => {
        await newest(a, reg, 'trixtech/shop:1.0.0', 'minor');
        return requests().length === 2 || undefined;
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    } finally {
      tokens.expiresIn = 300;
    }
  });

  it('a wrong password is a finding naming the realm and its 401, never the password', async () => {
    const wrong = `wrong-${randomUUID()}`;
    const requests = sinceHere();
    const err = await refusal(
      newest(
        acts({ [reg.host]: { username: 'bot', password: wrong, realmHost: realmHost() } }),
        reg,
        'trixtech/shop:1.0.0',
        'minor',
      ),
    );
    expect([err.type, err.nonRetryable, err.message]).toEqual([
      'RegistryRefused',
      true,
      `token realm ${tokens.realm} of registry ${reg.url} answered 401 to user bot asking for repository:trixtech/shop:pull (wrong user name or password?)`,
    ]);
    expect(everything(err)).not.toContain(wrong);
    // It was the realm that refused: the wrong password went there, and only there.
    expect(requests()).toEqual([
      expect.objectContaining({
        user: 'bot',
        authorization: `Basic ${Buffer.from(`bot:${wrong}`).toString('base64')}`,
      }),
    ]);
    expect(requests()[0]!.status).toBe(401);
  });

  it('a token the registry refuses is a finding, and is not kept', async () => {
    const requests = sinceHere();
    const a = acts({ [reg.host]: { username: 'nobody', password, realmHost: realmHost() } });
    for (let i = 0; i < 2; i++) {
      const err = await refusal(newest(a, reg, 'trixtech/shop:1.0.0', 'minor'));
      expect([err.type, err.message]).toEqual([
        'RegistryRefused',
        `registry ${reg.url} refused the token from ${tokens.realm} for repository:trixtech/shop:pull (401 insufficient_scope) for the tag list of trixtech/shop`,
      ]);
    }
    expect(requests().map((r) => [r.user, r.status])).toEqual([
      ['nobody', 200],
      ['nobody', 200],
    ]);
  });

  it('never sends the credentials to a realm on a host they are not configured for', async () => {
    const requests = sinceHere();
    // Configured for the registry alone: its realm, on another port, is another host.
    const err = await refusal(
      newest(acts({ [reg.host]: { username: 'bot', password } }), reg, 'trixtech/shop:1.0.0', 'minor'),
    );
    expect([err.type, err.message]).toEqual([
      'RegistryRefused',
      `registry ${reg.url} names token realm ${tokens.realm}; refused: its credentials are configured for ${reg.host} only (registries[].realmHost): not sent to ${realmHost()}`,
    ]);
    expect(everything(err)).not.toContain(password);
    expect(requests()).toEqual([]);

    // The rules, for registries and realms the suite cannot serve (off loopback, https).
    const u = (s: string) => new URL(s);
    const cred = { username: 'bot', password, realmHost: 'auth.docker.io' };
    expect(realmRefusal(u('https://ghcr.io'), u('https://ghcr.io/token'), { username: 'bot', password })).toBeNull();
    expect(realmRefusal(u('https://registry-1.docker.io'), u('https://auth.docker.io/token'), cred)).toBeNull();
    expect(realmRefusal(u('https://registry-1.docker.io'), u('https://auth.docker.io/token'))).toBeNull();
    expect(realmRefusal(u('https://registry-1.docker.io'), u('https://evil.example/token'), cred)).toMatch(
      /not sent to evil\.example$/,
    );
    for (const [registry, realm] of [
      ['https://ghcr.io', 'http://ghcr.io/token'],
      ['https://ghcr.io', 'http://127.0.0.1:9/token'],
      ['http://10.0.0.5:5000', 'http://10.0.0.5:5001/token'],
      ['http://127.0.0.1:5000', 'http://10.0.0.5:5001/token'],
      ['http://127.0.0.1:5000', 'ftp://127.0.0.1/token'],
    ] as const)
      expect(realmRefusal(u(registry), u(realm)), `${registry} -> ${realm}`).toMatch(/^a token realm must be https/);
    expect(parseChallenge('Bearer realm="https://a/token",service="reg",scope="repository:x/y:pull,push"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://a/token', service: 'reg', scope: 'repository:x/y:pull,push' },
    });
    // A second challenge in the same header does not lend the first its realm.
    expect(parseChallenge('Bearer realm="https://a/token", Basic realm="https://evil.example/"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://a/token' },
    });
  });

  it('a realm that does not answer is retried, naming the realm', async () => {
    const gone = await startTokenServer({ users: {}, expiresIn: 60 });
    const orphan = await startRegistry({ token: gone });
    try {
      await gone.stop();
      const err = await refusal(
        newest(
          acts({ [orphan.host]: { username: 'bot', password, realmHost: new URL(gone.realm).host } }),
          orphan,
          'trixtech/shop:1.0.0',
          'minor',
        ),
      );
      expect([err.type, err.nonRetryable, err.message]).toEqual([
        'RegistryUnavailable',
        false,
        `token realm ${gone.realm} of registry ${orphan.url} did not answer: ECONNREFUSED`,
      ]);
    } finally {
      await orphan.stop();
    }
  });

  it('answers a Basic challenge with the credentials configured for the registry', async () => {
    const image = 'trixtech/shop:1.0.0';
    expect(
      (await newest(acts({ [basicReg.host]: { username: 'bot', password } }), basicReg, image, 'minor')).newest,
    ).toBe('1.2.0');
    const none = await refusal(newest(acts({}), basicReg, image, 'minor'));
    expect(none.message).toBe(
      `registry ${basicReg.url} answered 401 to the tag list of trixtech/shop (asks for basic authentication; no credentials configured for ${basicReg.host}: config registries)`,
    );
    const wrong = `wrong-${randomUUID()}`;
    const err = await refusal(
      newest(acts({ [basicReg.host]: { username: 'bot', password: wrong } }), basicReg, image, 'minor'),
    );
    expect([err.type, err.message]).toEqual([
      'RegistryRefused',
      `registry ${basicReg.url} refused the Basic credentials of bot (401) for the tag list of trixtech/shop`,
    ]);
    expect(everything(err)).not.toContain(wrong);
  });

  it('config registries: passwords from the environment or a file; a bad entry names its field, never a secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'maint-registry-secret-'));
    const file = join(dir, 'password');
    writeFileSync(file, `${password}\n`);
    const secret = `env-${randomUUID()}`;
    const c = testConfig(
      { GHCR_PASSWORD: secret },
      {
        registries: [
          { host: 'GHCR.io', username: 'bot', passwordEnv: 'GHCR_PASSWORD' },
          { host: 'registry-1.docker.io', username: 'bot', passwordFile: file, realmHost: 'auth.docker.io' },
        ],
      },
    );
    expect(c.registryCredentials).toEqual({
      'ghcr.io': { username: 'bot', password: secret, realmHost: undefined },
      'registry-1.docker.io': { username: 'bot', password, realmHost: 'auth.docker.io' },
    });

    const problems = (registries: unknown[], env: Record<string, string> = {}) => {
      try {
        testConfig(env, { registries });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).message).not.toContain(secret);
        return (err as ConfigError).problems.map((p) => p.replace(/^config file \S+ /, ''));
      }
      throw new Error('expected a ConfigError');
    };
    expect(problems([{ host: 'https://ghcr.io', username: 'bot', passwordEnv: 'X' }], { X: secret })).toEqual([
      'registries[0].host: expected a registry host such as ghcr.io or 127.0.0.1:5000 (no scheme, path or credentials)',
    ]);
    expect(problems([{ host: 'ghcr.io', username: 'bot' }])).toEqual([
      'registries[0].passwordEnv: the password of bot at ghcr.io: give exactly one of passwordEnv (an environment variable) or passwordFile (a file)',
    ]);
    expect(problems([{ host: 'ghcr.io', username: 'bot', passwordEnv: 'NOT_SET_ANYWHERE' }])).toEqual([
      'registries[0].passwordEnv: environment variable NOT_SET_ANYWHERE is not set',
    ]);
    expect(problems([{ host: 'ghcr.io', username: 'bot', passwordFile: join(dir, 'absent') }])).toEqual([
      `registries[0].passwordFile: ENOENT: no such file or directory, open '${join(dir, 'absent')}'`,
    ]);
    expect(
      problems(
        [
          { host: 'ghcr.io', username: 'bot', passwordEnv: 'X' },
          { host: 'ghcr.io', username: 'other', passwordEnv: 'X' },
        ],
        { X: secret },
      ),
    ).toEqual(['registries: each registry host once']);
    expect(
      problems([{ host: 'ghcr.io', username: 'b:ot', passwordEnv: 'X', password: secret }], { X: secret }),
    ).toEqual([
      'registries[0].username: expected a user name without ":" or spaces',
      'registries[0]: Unrecognized key: "password"',
    ]);
  });
});
