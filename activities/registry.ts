import { failure, FailureType } from '../domain/failures.js';
import type { ImageUpdateTarget, NewestTag, TagPolicy } from '../domain/images.js';
import { fetchFailure } from './http.js';

const TIMEOUT_MS = 15_000;
/** Tags read at most (pages of 1000): a runaway listing must not hold the worker. */
const MAX_TAGS = 50_000;

// Release versions only: "1.2.3" or "v1.2.3"; pre-releases ("-rc1") and build metadata never qualify.
const SEMVER = /^(v?)(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const version = (tag: string) => {
  const m = SEMVER.exec(tag);
  return m ? { prefix: m[1]!, parts: [Number(m[2]), Number(m[3]), Number(m[4])] as const } : null;
};
const compare = (a: readonly number[], b: readonly number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;

/** `host[:port]/path:tag` split as container runtimes do: the first part is a host when it has a dot or port, or is localhost. */
export function parseImage(image: string): { host: string; repository: string; tag: string } {
  const withoutDigest = image.split('@')[0]!;
  const slash = withoutDigest.indexOf('/');
  const first = slash > 0 ? withoutDigest.slice(0, slash) : '';
  const hasHost = /[.:]/.test(first) || first === 'localhost';
  const host = hasHost ? first : 'registry-1.docker.io';
  let rest = hasHost ? withoutDigest.slice(slash + 1) : withoutDigest;
  const colon = rest.lastIndexOf(':');
  const tag = colon > rest.lastIndexOf('/') ? rest.slice(colon + 1) : 'latest';
  if (colon > rest.lastIndexOf('/')) rest = rest.slice(0, colon);
  return { host, repository: hasHost || rest.includes('/') ? rest : `library/${rest}`, tag };
}

const refused = (message: string) => failure(FailureType.RegistryRefused, message);

/** The registry side of the seed's app-update-weekly: which tag is newest, asked of the registry itself. */
export function createRegistryActivities({ targets }: { targets: ImageUpdateTarget[] }) {
  return {
    async resolveImageUpdateTargets(): Promise<ImageUpdateTarget[]> {
      return targets;
    },

    /**
     * Lists the repository's tags (OCI distribution `GET /v2/<name>/tags/list`, following `Link`
     * pages) and picks the newest release version the policy allows: `patch` keeps major.minor,
     * `minor` keeps major, `major` any. Never "the first tag in the list". Unreachable and 5xx are
     * retried; 401/403/404 and a current tag that is not a version are findings (non-retryable).
     */
    async findNewestImageTag(input: { image: string; policy: TagPolicy; registryUrl?: string }): Promise<NewestTag> {
      const { host, repository, tag: current } = parseImage(input.image);
      const base = (input.registryUrl ?? `https://${host}`).replace(/\/$/, '');
      const now = version(current);
      if (!now)
        throw refused(
          `current tag "${current}" of ${input.image} is not a release version (x.y.z): no ${input.policy} policy applies`,
        );

      const tags: string[] = [];
      let next: string | null = `/v2/${repository}/tags/list?n=1000`;
      while (next && tags.length < MAX_TAGS) {
        const url: string = new URL(next, base).toString();
        let res: Response;
        try {
          res = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS), headers: { accept: 'application/json' } });
        } catch (err) {
          throw failure(
            FailureType.RegistryUnavailable,
            `registry ${base} did not answer the tag list of ${repository}: ${fetchFailure(err, TIMEOUT_MS)}`,
          );
        }
        if (res.status === 401 || res.status === 403) {
          throw refused(
            `registry ${base} answered ${res.status} to the tag list of ${repository}${res.headers.get('www-authenticate') ? ` (asks for ${res.headers.get('www-authenticate')!.split(' ')[0]} authentication)` : ''}`,
          );
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
