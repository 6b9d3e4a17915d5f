import type { CheckResult } from './checks.js';

// Release versions only: "1.2.3" or "v1.2.3"; pre-releases ("-rc1") and build metadata never qualify.
const SEMVER = /^(v?)(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
/** A tag's release version (prefix and major, minor, patch), or null when it is none. */
export function releaseVersion(tag: string): { prefix: string; parts: readonly [number, number, number] } | null {
  const m = SEMVER.exec(tag);
  return m ? { prefix: m[1]!, parts: [Number(m[2]), Number(m[3]), Number(m[4])] } : null;
}

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

/**
 * Seed "Check for security patches": an image pinned by digest runs exactly what was reviewed;
 * a `latest` tag (or none) can change under a running deployment at the next pull.
 */
export function imageTagFindings(deployments: { namespace: string; name: string; images: string[] }[]): CheckResult[] {
  return deployments.flatMap((d) =>
    d.images.map((image): CheckResult => {
      const target = `${d.namespace}/${d.name}`;
      const threshold = 'pinned by digest or a version tag, never latest';
      if (image.includes('@sha256:'))
        return { check: 'image-tag', target, status: 'ok', threshold, detail: `${image} is pinned by digest` };
      const lastSegment = image.split('/').pop()!;
      const tag = lastSegment.includes(':') ? lastSegment.split(':').pop()! : '';
      if (!tag || tag === 'latest') {
        return {
          check: 'image-tag',
          target,
          status: 'warn',
          threshold,
          detail: `${image} runs by the mutable tag ${tag || '(none, meaning latest)'}`,
        };
      }
      return { check: 'image-tag', target, status: 'ok', threshold, detail: `${image} runs by version tag ${tag}` };
    }),
  );
}

/** Deployments whose image version differs from the version the configuration declares current. */
export function outdatedImageFindings(
  deployments: { namespace: string; name: string; images: string[] }[],
  current: Record<string, string>,
): CheckResult[] {
  return deployments.flatMap((d) =>
    d.images.flatMap((image): CheckResult[] => {
      const at = image.lastIndexOf(':');
      const repository = at > image.lastIndexOf('/') ? image.slice(0, at) : image;
      const tag = at > image.lastIndexOf('/') ? image.slice(at + 1) : 'latest';
      const wanted = current[repository];
      if (wanted === undefined) return [];
      const target = `${d.namespace}/${d.name}`;
      return [
        wanted === tag
          ? {
              check: 'image-version',
              target,
              status: 'ok',
              value: tag,
              detail: `${repository} runs the current ${tag}`,
            }
          : {
              check: 'image-version',
              target,
              status: 'warn',
              value: tag,
              threshold: `current: ${wanted}`,
              detail: `${repository} runs ${tag}; current is ${wanted}`,
            },
      ];
    }),
  );
}

/** Seed "Review all configurations against standards", for what the inventory shows. */
export function standardsFindings(
  deployments: { namespace: string; name: string; replicas: number; available: number }[],
  standards: { minReplicas: number },
): CheckResult[] {
  return deployments.map((d): CheckResult => {
    const finding = (status: 'ok' | 'warn', value: number, detail: string): CheckResult => ({
      check: 'standards',
      target: `${d.namespace}/${d.name}`,
      status,
      value,
      threshold: `>= ${standards.minReplicas} replicas, all available`,
      detail,
    });
    if (d.replicas < standards.minReplicas)
      return finding('warn', d.replicas, `${d.replicas} replica(s): a single failure takes it down`);
    if (d.available < d.replicas)
      return finding('warn', d.available, `${d.available} of ${d.replicas} replicas available`);
    return finding('ok', d.replicas, `${d.replicas} replicas, all available`);
  });
}

/** How far an image update may move: `patch` keeps major.minor, `minor` keeps major, `major` any. */
export type TagPolicy = 'patch' | 'minor' | 'major';

/** One deployment container that follows its registry (config `imageUpdates`). */
export interface ImageUpdateTarget {
  deployment: string;
  namespace?: string;
  container: string;
  policy: TagPolicy;
  /** The registry's API base when it is not https://<image host>. */
  registryUrl?: string;
}

export interface NewestTag {
  /** The repository as the registry names it, e.g. trixtech/backend. */
  repository: string;
  current: string;
  /** The newest tag the policy allows, newer than the current one; null when the current one is newest. */
  newest: string | null;
  /** The image reference to set (same registry and repository, the newest tag). */
  image: string | null;
  tags: number;
}

/** One registry lookup of the security review: a running image with a release tag, asked once however many deployments run it. */
export interface PatchReleaseLookup {
  image: string;
  /** From the deployment's `imageUpdates` entry; otherwise the registry is https://<image host>. */
  registryUrl?: string;
  /** The deployments (namespace/name) running it. */
  runBy: string[];
}

/**
 * Seed "Check for security patches": the running images whose tag is a release version (x.y.z),
 * each once, with the registry URL of an `imageUpdates` entry of a deployment running it when one
 * names it.
 * `latest`, other tags and digest-only references are the image-tag check's business.
 */
export function patchReleaseLookups(
  deployments: { namespace: string; name: string; images: string[] }[],
  targets: ImageUpdateTarget[],
): PatchReleaseLookup[] {
  const lookups = new Map<string, PatchReleaseLookup>();
  for (const d of deployments) {
    const registryUrl = targets.find(
      (t) => t.deployment === d.name && (t.namespace ?? d.namespace) === d.namespace && t.registryUrl,
    )?.registryUrl;
    for (const image of d.images) {
      if (!releaseVersion(parseImage(image).tag)) continue;
      const lookup = lookups.get(image) ?? { image, runBy: [] };
      // An image is asked once: at the registry URL of any deployment running it that names one.
      lookup.registryUrl ??= registryUrl;
      lookup.runBy.push(`${d.namespace}/${d.name}`);
      lookups.set(image, lookup);
    }
  }
  return [...lookups.values()];
}

/** A lookup's finding: ok at the newest patch release of its major.minor, warn behind it or when the registry could not be asked. */
export function patchReleaseFinding(
  lookup: PatchReleaseLookup,
  answer: { newest: string | null } | { unchecked: string },
): CheckResult {
  const { tag } = parseImage(lookup.image);
  const { prefix, parts } = releaseVersion(tag)!;
  const line = `${prefix}${parts[0]}.${parts[1]}.x`;
  const base = {
    check: 'image.patch-release',
    target: lookup.image,
    value: tag,
    threshold: `the newest ${line} release`,
  } as const;
  const runBy = `run by ${lookup.runBy.join(', ')}`;
  if ('unchecked' in answer) return { ...base, status: 'warn', detail: `not checked (${runBy}): ${answer.unchecked}` };
  return answer.newest
    ? { ...base, status: 'warn', detail: `${tag} running, ${answer.newest} released (${runBy})` }
    : { ...base, status: 'ok', detail: `${tag} is the newest ${line} (${runBy})` };
}
