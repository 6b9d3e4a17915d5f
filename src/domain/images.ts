import type { CheckResult } from './checks.js';

/**
 * Seed "Check for security patches": an image pinned by digest runs exactly what was reviewed;
 * a `latest` tag (or none) can change under a running deployment at the next pull.
 */
export function imageTagFindings(deployments: { namespace: string; name: string; images: string[] }[]): CheckResult[] {
  return deployments.flatMap((d) => d.images.map((image): CheckResult => {
    const target = `${d.namespace}/${d.name}`;
    const threshold = 'pinned by digest or a version tag, never latest';
    if (image.includes('@sha256:')) return { check: 'image-tag', target, status: 'ok', threshold, detail: `${image} is pinned by digest` };
    const lastSegment = image.split('/').pop()!;
    const tag = lastSegment.includes(':') ? lastSegment.split(':').pop()! : '';
    if (!tag || tag === 'latest') {
      return { check: 'image-tag', target, status: 'warn', threshold, detail: `${image} runs by the mutable tag ${tag || '(none, meaning latest)'}` };
    }
    return { check: 'image-tag', target, status: 'ok', threshold, detail: `${image} runs by version tag ${tag}` };
  }));
}
