import type { CheckResult } from './checks.js';

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
