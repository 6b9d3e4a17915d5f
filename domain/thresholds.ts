import { z } from 'zod';

const percent = z.number().min(0).max(100);
const ageHours = z
  .number()
  .positive()
  .max(24 * 366);
const days = z.number().nonnegative().max(3650);
const lagSeconds = z
  .number()
  .nonnegative()
  .max(7 * 86_400);
const bounds = {
  diskWarnPercent: percent,
  diskCriticalPercent: percent,
  backupMaxAgeHours: ageHours,
  backupWarnAgeHours: ageHours,
  certWarnDays: days,
  certCriticalDays: days,
  responseTimeBudgetMs: z.number().int().positive().max(600_000),
  connectionsWarnPercent: percent,
  connectionsCriticalPercent: percent,
  replicationLagWarnSeconds: lagSeconds,
  replicationLagCriticalSeconds: lagSeconds,
  expectedReplicas: z.number().int().nonnegative().max(100),
};
export type Thresholds = { [K in keyof typeof bounds]: number };

/**
 * Thresholds from the Routine Maintenance Guide's morning checklist: disk < 85%, last backup
 * < 24 h, certificates > 30 days. The warn levels sit below them so a trend is seen before
 * the checklist line is crossed (the setup guide's cleanup script acts at 80% disk).
 */
export const DEFAULT_THRESHOLDS: Thresholds = {
  diskWarnPercent: 80,
  diskCriticalPercent: 85,
  backupMaxAgeHours: 24,
  backupWarnAgeHours: 20,
  certWarnDays: 30,
  certCriticalDays: 7,
  responseTimeBudgetMs: 1000,
  connectionsWarnPercent: 80,
  connectionsCriticalPercent: 95,
  replicationLagWarnSeconds: 30,
  replicationLagCriticalSeconds: 300,
  expectedReplicas: 0,
};

/** Any subset of thresholds, e.g. from the config file or a workflow input. Unknown names are rejected. */
export const ThresholdOverridesSchema = z.object(bounds).partial().strict();

/** Overrides applied over `base`, then checked for consistency (warn levels before critical ones). */
export function thresholdsSchema(base: Thresholds = DEFAULT_THRESHOLDS) {
  return ThresholdOverridesSchema.transform((o): Thresholds => ({ ...base, ...o })).superRefine((t, ctx) => {
    const order = (lower: keyof Thresholds, upper: keyof Thresholds) => {
      if (t[lower] > t[upper])
        ctx.addIssue({
          code: 'custom',
          path: [lower],
          message: `${lower} (${t[lower]}) must not exceed ${upper} (${t[upper]})`,
        });
    };
    order('diskWarnPercent', 'diskCriticalPercent');
    order('backupWarnAgeHours', 'backupMaxAgeHours');
    order('certCriticalDays', 'certWarnDays');
    order('connectionsWarnPercent', 'connectionsCriticalPercent');
    order('replicationLagWarnSeconds', 'replicationLagCriticalSeconds');
  });
}
