import { z } from 'zod';

// Shared by the config file (health-check targets) and workflow inputs (post-rollout probes):
// pure zod, so workflow code can validate with it.

export const nameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'use letters, digits, ".", "_" or "-"');
/** Query parameters that carry credentials by convention. */
export const SECRET_PARAMS =
  /^(token|access[_-]?token|auth[_-]?token|private[_-]?token|api[_-]?key|apikey|key|secret|client[_-]?secret|password|passwd|pwd|auth|sig|signature)$/i;

/** Which credential a URL carries (`user:password@`, `?token=`), or undefined. */
export function urlCredential(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined; // Zod runs this refinement even when the URL check failed, which it reports already.
  }
  if (u.username || u.password) return 'user:password@';
  const param = [...u.searchParams.keys()].find((k) => SECRET_PARAMS.test(k));
  return param === undefined ? undefined : `?${param.slice(0, 40)}=`;
}

/**
 * An http(s) URL without credentials in it. A URL is shown in history, reports, logs and Slack;
 * a secret inside it would be too, so it is refused here rather than masked in each place.
 */
export const httpUrlSchema = z
  .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
  .max(2048)
  .superRefine((url, ctx) => {
    const credential = urlCredential(url);
    if (credential) {
      ctx.addIssue({
        code: 'custom',
        message:
          `credentials in a URL (${credential}) are refused: URLs are shown in history, reports, logs and Slack. Keep secrets in the environment ` +
          '(a cache-clear endpoint names the variable holding its bearer token with tokenEnv; a Slack webhook URL is itself given as SLACK_WEBHOOK_URL)',
      });
    }
  });

export const HttpTargetSchema = z
  .object({
    name: nameSchema,
    url: httpUrlSchema,
    expectStatus: z.number().int().min(100).max(599).optional(),
    budgetMs: z.number().int().positive().optional(),
  })
  .strict();
export type HttpTarget = z.infer<typeof HttpTargetSchema>;
