import { failure, FailureType } from '../domain/failures.js';
import {
  parseImage,
  releaseVersion as version,
  type ImageUpdateTarget,
  type NewestTag,
  type TagPolicy,
} from '../domain/images.js';
import type { RegistryCredential } from '../src/config/schema.js';
import { fetchFailure } from './http.js';

const TIMEOUT_MS = 15_000;
/** Tags read at most (pages of 1000): a runaway listing must not hold the worker. */
const MAX_TAGS = 50_000;

const compare = (a: readonly number[], b: readonly number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;

// Pure, so workflows can use it too; kept here as well, beside the lookup that depends on it.
export { parseImage };

const refused = (message: string) => failure(FailureType.RegistryRefused, message);
const unavailable = (message: string) => failure(FailureType.RegistryUnavailable, message);

/** A token's lifetime when the realm does not say (the distribution spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;

/**
 * The first challenge of a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"`.
 * Its parameters end where the next challenge's scheme starts (`…, Basic realm="…"`).
 */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | null {
  const m = /^\s*([A-Za-z][\w-]*)/.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  const param = /\s*,?\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))/y;
  param.lastIndex = m[0].length;
  for (let p = param.exec(header); p; p = param.exec(header))
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme: m[1]!.toLowerCase(), params };
}

const isLoopback = (u: URL) => u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\./.test(u.hostname);
/** Where a secret may travel in clear: https, or plain http that never leaves this machine. */
const secureTransport = (u: URL) => u.protocol === 'https:' || (u.protocol === 'http:' && isLoopback(u));

/**
 * Why a token realm named by registry `base` is refused, or null when it may be asked. The realm
 * comes from the registry's answer, so it is checked before anything is sent: https only, unless
 * registry and realm are both plain http on loopback; and the registry's credentials go to its own
 * host or the configured `realmHost`, never wherever a registry points.
 */
export function realmRefusal(base: URL, realm: URL, credential?: RegistryCredential): string | null {
  if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && isLoopback(realm) && isLoopback(base)))
    return `a token realm must be https (plain http only when registry and realm are both on loopback)`;
  if (credential && realm.host !== base.host && realm.host !== credential.realmHost)
    return `its credentials are configured for ${base.host}${credential.realmHost ? ` and realm host ${credential.realmHost}` : ''} only (registries[].realmHost): not sent to ${realm.host}`;
  return null;
}

/** Bearer tokens by registry and scope, kept until their `expires_in` runs out. */
class TokenCache {
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  get(key: string): string | undefined {
    const hit = this.tokens.get(key);
    if (hit && hit.expiresAt > Date.now()) return hit.token;
    this.tokens.delete(key);
    return undefined;
  }
  set(key: string, token: string, seconds: number): void {
    for (const [k, v] of this.tokens) if (v.expiresAt <= Date.now()) this.tokens.delete(k);
    this.tokens.set(key, { token, expiresAt: Date.now() + seconds * 1000 });
  }
  delete(key: string): void {
    this.tokens.delete(key);
  }
}

interface Authorization {
  header: string;
  /** What was presented, for a refusal: never the secret itself. */
  what: string;
  /** The cache entry it came from, dropped when the registry no longer accepts it. */
  cacheKey?: string;
}

/**
 * GETs of one repository's pages at one registry, answering its challenge the way docker and
 * Renovate do: on 401 with `Bearer realm=…`, a token from the realm (with Basic credentials when
 * configured for that host) and the request again with it; on 401 with `Basic`, the credentials.
 */
function registryReader(base: URL, repository: string, credential: RegistryCredential | undefined, tokens: TokenCache) {
  const registry = base.origin + base.pathname.replace(/\/$/, '');
  const what = `the tag list of ${repository}`;
  const cacheKey = (scope: string) => `${registry} ${scope}`;
  const defaultScope = `repository:${repository}:pull`;
  const cached = tokens.get(cacheKey(defaultScope));
  let auth: Authorization | undefined = cached
    ? { header: `Bearer ${cached}`, what: 'a cached token', cacheKey: cacheKey(defaultScope) }
    : undefined;
  let challenged = false;

  const send = async (url: string, header?: string) => {
    try {
      return await fetch(url, {
        signal: AbortSignal.timeout(TIMEOUT_MS),
        headers: { accept: 'application/json', ...(header ? { authorization: header } : {}) },
        // A redirect would carry the Authorization header to wherever it points.
        redirect: header ? 'error' : 'follow',
      });
    } catch (err) {
      throw unavailable(`registry ${registry} did not answer ${what}: ${fetchFailure(err, TIMEOUT_MS)}`);
    }
  };

  const basic = () => `Basic ${Buffer.from(`${credential!.username}:${credential!.password}`).toString('base64')}`;

  async function bearerToken(params: Record<string, string>): Promise<Authorization> {
    let realm: URL;
    try {
      realm = new URL(params.realm ?? '');
    } catch {
      throw refused(`registry ${registry} asks for a Bearer token without a valid realm URL`);
    }
    const realmName = `${realm.origin}${realm.pathname}`;
    const refusal = realmRefusal(base, realm, credential);
    if (refusal) throw refused(`registry ${registry} names token realm ${realmName}; refused: ${refusal}`);
    const scope = params.scope ?? defaultScope;
    const key = cacheKey(scope);
    const hit = tokens.get(key);
    if (hit) return { header: `Bearer ${hit}`, what: `the cached token for ${scope}`, cacheKey: key };

    if (params.service) realm.searchParams.set('service', params.service);
    for (const s of scope.split(' ').filter(Boolean)) realm.searchParams.append('scope', s);
    const who = credential ? `user ${credential.username}` : 'an anonymous request';
    let res: Response;
    try {
      res = await fetch(realm, {
        signal: AbortSignal.timeout(TIMEOUT_MS),
        headers: { accept: 'application/json', ...(credential ? { authorization: basic() } : {}) },
        redirect: credential ? 'error' : 'follow',
      });
    } catch (err) {
      throw unavailable(
        `token realm ${realmName} of registry ${registry} did not answer: ${fetchFailure(err, TIMEOUT_MS)}`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      const hint =
        res.status === 401 || res.status === 403
          ? credential
            ? ' (wrong user name or password?)'
            : ` (no credentials configured for ${base.host}: config registries)`
          : '';
      const message = `token realm ${realmName} of registry ${registry} answered ${res.status} to ${who} asking for ${scope}${hint}`;
      throw res.status >= 500 ? unavailable(message) : refused(message);
    }
    const body = (await res.json().catch(() => null)) as {
      token?: unknown;
      access_token?: unknown;
      expires_in?: unknown;
    } | null;
    const token = [body?.token, body?.access_token].find((t): t is string => typeof t === 'string' && t !== '');
    if (!token) throw refused(`token realm ${realmName} of registry ${registry} answered ${who} without a token`);
    const seconds =
      typeof body?.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    tokens.set(key, token, seconds);
    return { header: `Bearer ${token}`, what: `the token from ${realmName} for ${scope}`, cacheKey: key };
  }

  /** Credentials for a challenge, or a refusal saying why there are none to give. */
  async function answer(res: Response): Promise<Authorization> {
    const header = res.headers.get('www-authenticate') ?? '';
    const challenge = parseChallenge(header);
    if (challenge?.scheme === 'bearer') return bearerToken(challenge.params);
    if (challenge?.scheme === 'basic' && credential) {
      if (!secureTransport(base))
        throw refused(`registry ${registry} asks for Basic credentials over plain http off loopback: not sent`);
      return { header: basic(), what: `the Basic credentials of ${credential.username}` };
    }
    throw refused(
      `registry ${registry} answered 401 to ${what}${challenge ? ` (asks for ${challenge.scheme} authentication${challenge.scheme === 'basic' ? `; no credentials configured for ${base.host}: config registries` : ', which is not supported'})` : ''}`,
    );
  }

  return async function get(url: string): Promise<Response> {
    let res = await send(url, auth?.header);
    // Challenged once per listing: a fresh answer refused means the credentials are wrong, not stale.
    if (res.status === 401 && !challenged) {
      challenged = true;
      if (auth?.cacheKey) tokens.delete(auth.cacheKey);
      await res.body?.cancel();
      auth = await answer(res);
      res = await send(url, auth.header);
    }
    if ((res.status === 401 || res.status === 403) && auth) {
      if (auth.cacheKey) tokens.delete(auth.cacheKey);
      const error = parseChallenge(res.headers.get('www-authenticate') ?? '')?.params.error;
      throw refused(`registry ${registry} refused ${auth.what} (${res.status}${error ? ` ${error}` : ''}) for ${what}`);
    }
    return res;
  };
}

/** The registry side of the seed's app-update-weekly: which tag is newest, asked of the registry itself. */
export function createRegistryActivities({
  targets,
  credentials = {},
}: {
  targets: ImageUpdateTarget[];
  /** By registry host (as the API base URL names it). Secret: never in a message. */
  credentials?: Record<string, RegistryCredential>;
}) {
  const tokens = new TokenCache();
  return {
    async resolveImageUpdateTargets(): Promise<ImageUpdateTarget[]> {
      return targets;
    },

    /**
     * Lists the repository's tags (OCI distribution `GET /v2/<name>/tags/list`, following `Link`
     * pages on the same registry) and picks the newest release version the policy allows: `patch`
     * keeps major.minor, `minor` keeps major, `major` any. Never "the first tag in the list".
     * A 401 is answered with the registry's challenge (a Bearer token, cached per registry and scope,
     * or Basic credentials); unreachable and 5xx (registry or token realm) are retried; a refusal,
     * 404 and a current tag that is not a version are findings (non-retryable).
     */
    async findNewestImageTag(input: { image: string; policy: TagPolicy; registryUrl?: string }): Promise<NewestTag> {
      const { host, repository, tag: current } = parseImage(input.image);
      const base = (input.registryUrl ?? `https://${host}`).replace(/\/$/, '');
      const now = version(current);
      if (!now)
        throw refused(
          `current tag "${current}" of ${input.image} is not a release version (x.y.z): no ${input.policy} policy applies`,
        );
      const baseUrl = new URL(base);
      const get = registryReader(baseUrl, repository, credentials[baseUrl.host], tokens);

      const tags: string[] = [];
      let next: string | null = `/v2/${repository}/tags/list?n=1000`;
      while (next && tags.length < MAX_TAGS) {
        const url = new URL(next, base);
        // Credentials and tokens go to the registry only: a page link elsewhere is not followed.
        if (url.origin !== baseUrl.origin)
          throw refused(`registry ${base} links the next page of tags of ${repository} to ${url.origin}: not followed`);
        const res = await get(url.toString());
        if (res.status === 401 || res.status === 403) {
          throw refused(`registry ${base} answered ${res.status} to the tag list of ${repository}`);
        }
        if (res.status === 404) throw refused(`registry ${base} has no repository ${repository} (404)`);
        if (!res.ok)
          throw failure(
            res.status >= 500 ? FailureType.RegistryUnavailable : FailureType.RegistryRefused,
            `registry ${base} answered ${res.status} to the tag list of ${repository}`,
          );
        const body = (await res.json()) as { tags?: string[] | null };
        tags.push(...(body.tags ?? []));
        next = /<([^>]+)>;\s*rel="?next"?/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
      }

      const allowed = (v: readonly number[]) =>
        (input.policy === 'major' || v[0] === now.parts[0]) && (input.policy !== 'patch' || v[1] === now.parts[1]);
      let newest: { tag: string; parts: readonly number[] } | null = null;
      for (const tag of tags) {
        const v = version(tag);
        // The same prefix style as the current tag ("v1.2.3" follows "v1.2.2"), allowed, and newer.
        if (!v || v.prefix !== now.prefix || !allowed(v.parts) || compare(v.parts, now.parts) <= 0) continue;
        if (!newest || compare(v.parts, newest.parts) > 0) newest = { tag, parts: v.parts };
      }
      const image = newest ? `${input.image.split('@')[0]!.slice(0, -current.length - 1)}:${newest.tag}` : null;
      return { repository, current, newest: newest?.tag ?? null, image, tags: tags.length };
    },
  };
}
