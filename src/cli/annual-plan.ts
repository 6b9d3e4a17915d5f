// `maint plan annual [set | amend]`: the year-end window's plan as reviewed data. Shown with its
// revisions and the nodes its rule selects now; set or amended with the operator's own key, checked
// against the cluster first (nothing is stored when a deployment, container, version or node
// selection is wrong), and refused once the window has started or its run has read the plan.
import type pg from 'pg';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { createKubernetesActivities } from '../../activities/kubernetes/index.js';
import {
  AnnualPlan,
  amendmentPlan,
  amendmentRunId,
  amendmentWorkflowId,
  describeAnnualPlan,
  describeNodeRule,
  nextDecember25,
  type NodeRule,
  type PlannedApplication,
  type StoredAnnualPlan,
} from '../../domain/annual-plan.js';
import { planHash } from '../../domain/approval-proof.js';
import { describeInputIssues } from '../../domain/input-errors.js';
import { SEARCH_ATTRIBUTES } from '../../domain/run.js';
import { annualPlanAmendedSignal } from '../../workflows/lib/definitions.js';
import { amendAnnualPlan, annualPlanRevisions, currentAnnualPlan } from '../annual-plans.js';
import { kubeConfigSource } from '../clients.js';
import { loadSigningKey } from '../decisions.js';
import { signStatement } from '../signing.js';
import { approverIdentity, CliError, isoDate, withReportPool, type CliIo } from './common.js';

type Kube = ReturnType<typeof createKubernetesActivities>;

/** Why the plan cannot run on this cluster now, one line per problem; empty when it can. */
async function planProblems(plan: AnnualPlan, kube: Kube, namespace: string): Promise<string[]> {
  const problems: string[] = [];
  const failed = (err: unknown) => (err as Error).message;
  for (const a of plan.applications) {
    const name = `${a.namespace ?? namespace}/${a.deployment}`;
    try {
      const found = await kube.readDeploymentRevision({ deployment: a.deployment, namespace: a.namespace });
      if ('skipped' in found) {
        problems.push(`applications: ${name}: cannot be checked: ${found.skipped}`);
        continue;
      }
      if (found.images[a.container] === undefined)
        problems.push(
          `applications: ${name} has no container ${a.container} (has: ${Object.keys(found.images).join(', ')})`,
        );
    } catch (err) {
      problems.push(`applications: ${name}: ${failed(err)}`);
    }
  }
  if (plan.nodes !== 'none') {
    try {
      const chosen = await kube.selectNodes({ rule: plan.nodes });
      if ('skipped' in chosen) problems.push(`nodes: cannot be checked: ${chosen.skipped}`);
      else if (chosen.nodes.length === 0)
        problems.push(`nodes: ${describeNodeRule(plan.nodes)} selects no node now (use "none" for no node updates)`);
    } catch (err) {
      problems.push(`nodes: ${failed(err)}`);
    }
  }
  return problems;
}

/** `--nodes all | none | <label selector>` */
function nodeRule(value: string): NodeRule {
  return value === 'all' || value === 'none' ? value : { selector: value };
}

/** `--app [namespace/]deployment/container=image` */
function application(value: string): PlannedApplication {
  const m = /^(?:([^/=]+)\/)?([^/=]+)\/([^/=]+)=(.+)$/.exec(value);
  if (!m) throw new CliError(`--app '${value.slice(0, 100)}': expected [namespace/]deployment/container=image`);
  const [, namespace, deployment, container, image] = m;
  return { deployment: deployment!, container: container!, image: image!, ...(namespace ? { namespace } : {}) };
}

const appKey = (a: { namespace?: string; deployment: string }) => `${a.namespace ?? 'default'}/${a.deployment}`;

function show(io: CliIo, p: StoredAnnualPlan, selected: string | undefined): void {
  io.out(`annual plan for the window starting ${p.windowStart}:`);
  for (const line of describeAnnualPlan(p)) io.out(`  ${line}`);
  if (selected) io.out(`  nodes the rule selects now: ${selected}`);
  io.out(
    p.readAtOpening
      ? `  read by run ${p.readAtOpening.workflowId} at ${p.readAtOpening.at} when the window opened: it can no longer change`
      : `  open for amendment until the window starts (maint plan annual amend); the run reads it when the window opens`,
  );
}

export function registerAnnualPlanCommands(plan: Command, io: CliIo): void {
  const withPool = withReportPool(io);
  const kube = async () => {
    const config = io.config();
    return createKubernetesActivities({
      kube: (await kubeConfigSource(config)?.()) ?? null,
      namespace: config.kubernetes.namespace,
      appLabelSelector: config.kubernetes.appLabelSelector,
    });
  };
  // `--window` belongs to `plan annual` and is read there for `set` and `amend` too (commander parses it on the parent).
  const windowOf = () => (annual.opts() as { window?: string }).window ?? nextDecember25(new Date()).toISOString();

  /** Checks, signs and stores `next` on top of `base`, then nudges the window's waiting runs to read it. */
  const store = async (
    pool: pg.Pool,
    base: StoredAnnualPlan,
    raw: unknown,
    opts: { as?: string; key?: string; comment?: string },
  ) => {
    const parsed = AnnualPlan.safeParse(raw);
    if (!parsed.success)
      throw new CliError(`invalid plan, nothing stored: ${describeInputIssues(parsed.error.issues).join('; ')}`);
    const next = parsed.data;
    const problems = await planProblems(next, await kube(), io.config().kubernetes.namespace);
    if (problems.length) throw new CliError(`plan refused, nothing stored: ${problems.join('; ')}`);
    const principal = approverIdentity(opts.as);
    const proof = signStatement(
      {
        decision: 'approve',
        workflowId: amendmentWorkflowId(base.windowStart),
        runId: amendmentRunId(base.revision),
        planHash: planHash(amendmentPlan(base.windowStart, next)),
        principal,
        comment: opts.comment,
        via: 'cli',
      },
      loadSigningKey(opts.key),
    );
    const saved = await amendAnnualPlan(pool, io.config().approvals, {
      windowStart: base.windowStart,
      baseRevision: base.revision,
      plan: next,
      proof,
    }).catch((err: Error) => {
      throw new CliError(err.message);
    });
    show(io, saved, undefined);
    io.out(`  stored as revision ${saved.revision} by ${saved.amendedBy}`);
    // A waiting run asks for approval of the new revision; one that misses this reads it anyway when its window opens.
    try {
      const client = await io.temporal();
      const query = `WorkflowType="annualUpgrade" AND ExecutionStatus="Running" AND ${SEARCH_ATTRIBUTES.target.name}="window ${base.windowStart.slice(0, 10)}"`;
      const told: string[] = [];
      for await (const w of client.workflow.list({ query })) {
        await client.workflow
          .getHandle(w.workflowId, w.runId)
          .signal(annualPlanAmendedSignal, { windowStart: base.windowStart });
        told.push(w.workflowId);
      }
      io.out(
        told.length
          ? `  told the running annualUpgrade run(s) of ${base.windowStart.slice(0, 10)}: ${told.join(', ')}; the one of this window asks for approval of revision ${saved.revision}`
          : '  no run of this window is waiting yet: it will read this revision',
      );
    } catch (err) {
      io.out(
        `  warning: could not tell the window's run (${(err as Error).message}); it reads the plan when the window opens and runs only an approved revision`,
      );
    }
  };

  const annual = plan
    .command('annual')
    .description("the year-end window's stored plan: revisions, who amended them, the nodes its rule selects now")
    .option('--window <start>', 'the window start (default: the next December 25, 00:00 UTC)', isoDate)
    .option('--history', 'every revision, newest first')
    .option('--json', 'machine-readable output')
    .action(async (opts: { history?: boolean; json?: boolean }) =>
      withPool(async (pool) => {
        const windowStart = windowOf();
        const current = await currentAnnualPlan(pool, windowStart);
        const revisions = opts.history ? await annualPlanRevisions(pool, windowStart) : undefined;
        if (opts.json) return io.json({ ...current, ...(revisions ? { revisions } : {}) });
        let selected: string | undefined;
        if (current.plan && current.plan.nodes !== 'none') {
          const chosen = await (
            await kube()
          )
            .selectNodes({ rule: current.plan.nodes })
            .catch((err: Error) => ({ skipped: err.message }));
          selected = 'skipped' in chosen ? chosen.skipped : chosen.nodes.join(', ') || 'none';
        }
        show(io, current, selected);
        for (const r of revisions ?? [])
          io.out(`  revision ${r.revision} by ${r.amendedBy} at ${r.amendedAt}${r.comment ? `: ${r.comment}` : ''}`);
      }),
    );

  const signing = (c: Command) =>
    c
      .option('--as <name>', 'who you are (default: MAINT_APPROVER or USER), proven by your key')
      .option('--key <file>', 'your Ed25519 private key (default: MAINT_SIGNING_KEY or ~/.ssh/id_ed25519)')
      .option('--comment <text>', 'why: kept with the revision');

  signing(annual.command('set'))
    .description('store a whole plan (JSON: {"nodes": "all" | "none" | {"selector": "..."}, "applications": [...]})')
    .option('--plan <json>', 'the plan')
    .option('--file <path>', 'the plan, from a file')
    .action(async (opts: { plan?: string; file?: string; as?: string; key?: string; comment?: string }) =>
      withPool(async (pool) => {
        if (!opts.plan === !opts.file) throw new CliError('give the plan with --plan <json> or --file <path>');
        let raw: unknown;
        try {
          raw = JSON.parse(opts.plan ?? readFileSync(opts.file!, 'utf8'));
        } catch (err) {
          throw new CliError(`the plan is not readable JSON: ${(err as Error).message.slice(0, 200)}`);
        }
        await store(pool, await currentAnnualPlan(pool, windowOf()), raw, opts);
      }),
    );

  signing(annual.command('amend'))
    .description('change the stored plan: the node rule, an application upgrade added or replaced, or dropped')
    .option('--nodes <rule>', 'all | none | a label selector (e.g. pool=general)')
    .option(
      '--app <spec>',
      '[namespace/]deployment/container=image; repeat for more',
      (v, all: string[]) => [...all, v],
      [],
    )
    .option('--drop-app <name>', '[namespace/]deployment; repeat for more', (v, all: string[]) => [...all, v], [])
    .action(
      async (opts: { nodes?: string; app: string[]; dropApp: string[]; as?: string; key?: string; comment?: string }) =>
        withPool(async (pool) => {
          const base = await currentAnnualPlan(pool, windowOf());
          if (!base.plan)
            throw new CliError(`no plan stored for ${base.windowStart}: store one with maint plan annual set`);
          if (!opts.nodes && opts.app.length === 0 && opts.dropApp.length === 0)
            throw new CliError('nothing to amend: give --nodes, --app or --drop-app');
          const added = opts.app.map(application);
          const dropped = opts.dropApp.map((d) => (d.includes('/') ? d : `default/${d}`));
          const unknown = dropped.filter((d) => !base.plan!.applications.some((a) => appKey(a) === d));
          if (unknown.length) throw new CliError(`--drop-app: not in the plan: ${unknown.join(', ')}; nothing stored`);
          const applications = [
            ...base.plan.applications.filter(
              (a) => !dropped.includes(appKey(a)) && !added.some((n) => appKey(n) === appKey(a)),
            ),
            ...added,
          ];
          await store(pool, base, { nodes: opts.nodes ? nodeRule(opts.nodes) : base.plan.nodes, applications }, opts);
        }),
    );
}
