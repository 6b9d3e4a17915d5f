import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { canonicalJson, type ApprovalPlan } from './approval-proof.js';
import { distinct, imageReference, k8sLabelName, k8sObjectName } from './kubernetes-names.js';

// The annual upgrade plan as reviewed data (issue 20): what the year-end window upgrades, stored
// with every amendment (`annual_upgrade_plans`, src/annual-plans.ts), reviewed and amended by
// operators until the window starts, read by the run when the window opens. Sandbox-safe: the
// workflow describes and hashes the plan it asks approval for with the same code `maint` uses.

/** A label selector as kubectl takes it (`pool=general`, `tier!=db,zone in (a,b)`); the API server judges the rest. */
const labelSelector = z
  .string()
  .trim()
  .min(1)
  .max(500)
  .regex(/^[A-Za-z0-9._/\-=!, ()]+$/, 'expected a label selector like pool=general or zone in (a,b)');

/** Which nodes get the rolling OS/kubelet update: chosen by this rule when the window opens, never a stale list. */
export const NodeRule = z.union([z.literal('all'), z.literal('none'), z.object({ selector: labelSelector }).strict()]);
export type NodeRule = z.output<typeof NodeRule>;

const RELEASE_VERSION = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** The tag of an image reference (`latest` when it has none), as container runtimes read it. */
export function imageTag(image: string): string {
  const name = image.split('@')[0]!;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : 'latest';
}

/** The image without its tag or digest: the repository a container runs from. */
export function imageRepository(image: string): string {
  const name = image.split('@')[0]!;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

export const PlannedApplication = z
  .object({
    deployment: k8sObjectName,
    /** Default: the configured application namespace. */
    namespace: k8sLabelName.optional(),
    container: k8sLabelName,
    /** The target image: a release version tag (x.y.z or vx.y.z), never `latest` or a pre-release. */
    image: imageReference.superRefine((image, ctx) => {
      const tag = imageTag(image);
      if (!RELEASE_VERSION.test(tag))
        ctx.addIssue({
          code: 'custom',
          message: `the tag "${tag.slice(0, 60)}" of ${image.slice(0, 120)} is not a release version (x.y.z)`,
        });
    }),
  })
  .strict();
export type PlannedApplication = z.output<typeof PlannedApplication>;

export const AnnualPlan = z
  .object({
    nodes: NodeRule,
    applications: z
      .array(PlannedApplication)
      .max(50)
      .refine(
        (apps) => distinct(apps, (a) => `${a.namespace ?? ''}/${a.deployment}`),
        'each deployment may be upgraded once',
      ),
  })
  .strict();
export type AnnualPlan = z.output<typeof AnnualPlan>;

/** One revision of a window's plan as stored; revision 0 means none was stored yet. */
export interface StoredAnnualPlan {
  windowStart: string;
  revision: number;
  plan?: AnnualPlan;
  /** sha256 of the plan's canonical JSON. */
  hash?: string;
  amendedBy?: string;
  amendedAt?: string;
  comment?: string;
  /** Set once a run read the plan when its window opened: from then on it is what runs, and amendments are refused. */
  readAtOpening?: { workflowId: string; runId: string; revision: number; at: string };
}

export const annualPlanHash = (plan: AnnualPlan): string => bytesToHex(sha256(utf8ToBytes(canonicalJson(plan))));

export function describeNodeRule(rule: NodeRule): string {
  if (rule === 'all') return 'every node of the cluster';
  if (rule === 'none') return 'no node';
  return `the nodes matching ${rule.selector}`;
}

const appName = (a: PlannedApplication) => `${a.namespace ?? 'default'}/${a.deployment}`;

/** The plan as people review and approve it, one line each; the first names the revision and its hash. */
export function describeAnnualPlan(stored: StoredAnnualPlan): string[] {
  if (!stored.plan || stored.revision === 0)
    return [
      `no plan stored for the window starting ${stored.windowStart}: nothing would be upgraded (store one with maint plan annual set)`,
    ];
  const { plan } = stored;
  return [
    `plan revision ${stored.revision} (sha256 ${stored.hash?.slice(0, 12)}), amended by ${stored.amendedBy} at ${stored.amendedAt}${stored.comment ? `: ${stored.comment}` : ''}`,
    plan.nodes === 'none'
      ? 'no node updates'
      : `rolling OS/kubelet update of ${describeNodeRule(plan.nodes)}, chosen when the window opens`,
    ...plan.applications.map(
      (a) =>
        `upgrade ${appName(a)} container ${a.container} to ${a.image} (rollback to the revision recorded at the window)`,
    ),
  ];
}

/** The identity an amendment is signed for: the window's plan, on top of the revision the signer saw. */
export const amendmentWorkflowId = (windowStart: string) => `annual-plan/${windowStart}`;
export const amendmentRunId = (baseRevision: number) => `revision-${baseRevision}`;

/** What an amendment binds, hashed into the signed statement: the window and the whole new plan. */
export function amendmentPlan(windowStart: string, plan: AnnualPlan): ApprovalPlan {
  return { kind: 'annualUpgrade/plan', actions: [`window ${windowStart}`, canonicalJson(plan)] };
}

const DAY_MS = 86_400_000;

/** The seed's year-end window start (Dec 25, 00:00 UTC) a run started at `now` plans for: this year's until it is over. */
export function nextDecember25(now: Date): Date {
  const thisYear = Date.UTC(now.getUTCFullYear(), 11, 25);
  return new Date(now.getTime() < thisYear + 2 * DAY_MS ? thisYear : Date.UTC(now.getUTCFullYear() + 1, 11, 25));
}
