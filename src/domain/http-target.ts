import { z } from 'zod';

// Shared by the config file (health-check targets) and workflow inputs (post-rollout probes):
// pure zod, so workflow code can validate with it.

export const nameSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'use letters, digits, ".", "_" or "-"');
export const httpUrlSchema = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

export const HttpTargetSchema = z
  .object({
    name: nameSchema,
    url: httpUrlSchema,
    expectStatus: z.number().int().min(100).max(599).optional(),
    budgetMs: z.number().int().positive().optional(),
  })
  .strict();
export type HttpTarget = z.infer<typeof HttpTargetSchema>;
