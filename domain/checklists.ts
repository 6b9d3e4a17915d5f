import { z } from 'zod';
import { worstStatus, type CheckResult, type CheckStatus } from './checks.js';

// The seed guides' checklists as data, in the seed's own words: for every item, where it comes
// from, how it is met (a finding a check activity produces, or a person's sign-off), who owns it
// and who stands in, and when in the window it is due. Sandbox-safe: runs account for their
// checklist inside workflow code; `maint checklist` prints the same map.

export const ROUTINE_GUIDE = 'Routine Maintenance Guide';

/** Seed "Team Coordination: assign maintenance owners, define backup personnel": people per role live in config. */
export const ROLES = [
  'on-call-engineer',
  'devops-engineer',
  'security-engineer',
  'performance-engineer',
  'devops-lead',
  'development-lead',
  'engineering-lead',
  'maintenance-owner',
] as const;
export type Role = (typeof ROLES)[number];

/** A finding that meets an item: `finding` is the CheckResult.check key `activity` produces (or its workflow derives from it). */
export interface CheckRef {
  activity: string;
  finding: string;
}

/** Relative to the run's window (for routine reviews, the run itself and the seed's duration). */
export interface Due {
  when: 'before' | 'during' | 'after';
  hours: number;
}

export type Means =
  | {
      check: CheckRef[];
      /** What the check does not cover of the seed's words. */ limit?: string;
      /** Met by this workflow's runs, not by the one the checklist belongs to. */ by?: string;
    }
  | { task: string };

export interface ChecklistItem {
  /** Stable id, `<section>.<item>`: what a sign-off names. */
  id: string;
  /** The seed's line, word for word. */
  text: string;
  source: { guide: string; section: string };
  means: Means;
  owner: Role;
  backup: Role;
  due: Due;
}

export interface ChecklistSection {
  id: string;
  /** Seed heading path, e.g. "Monday Morning System Review (9:00 AM UTC) / Database Maintenance". */
  section: string;
  /** Workflow kinds whose runs this section's items belong to. */
  workflows: string[];
  owner: Role;
  backup: Role;
  due: Due;
  items: ChecklistItem[];
}

type ItemSpec = [
  key: string,
  text: string,
  means: Means,
  override?: Partial<Pick<ChecklistItem, 'owner' | 'backup' | 'due'>>,
];

const c = (activity: string, finding: string): CheckRef => ({ activity, finding });
const check = (...refs: CheckRef[]): Means => ({ check: refs });
const limited = (limit: string, ...refs: CheckRef[]): Means => ({ check: refs, limit });
const task = (what: string): Means => ({ task: what });

function section(
  id: string,
  heading: string,
  workflows: string[],
  owner: Role,
  backup: Role,
  due: Due,
  specs: ItemSpec[],
): ChecklistSection {
  return {
    id,
    section: heading,
    workflows,
    owner,
    backup,
    due,
    items: specs.map(([key, text, means, override]) => ({
      id: `${id}.${key}`,
      text,
      source: { guide: ROUTINE_GUIDE, section: heading },
      means,
      owner,
      backup,
      due,
      ...override,
    })),
  };
}

const during = (hours: number): Due => ({ when: 'during', hours });
/**
 * Node root filesystems come from node-exporter through Prometheus, the database's volume from the
 * source configured for it; without them only the worker's own mounts and the database's size are measured.
 */
const DISKS_LIMIT =
  "the worker's own mounts (targets.diskPaths) and the database's size; the database's volume only with targets.databaseVolume, and each node's root filesystem only with targets.prometheus (node-exporter)";
/** The seed's disk-space items: the worker's mounts, the database and its volume, the nodes' root filesystems. */
const DISKS = limited(
  DISKS_LIMIT,
  c('checkDiskUsage', 'disk'),
  c('checkDatabaseDisk', 'db.size'),
  c('checkDatabaseDisk', 'db.volume'),
  c('checkNodeHealth', 'node.disk'),
);
const MORNING = 'Morning Health Check (8:00 AM UTC)';
const EVENING = 'Evening Status Update (6:00 PM UTC)';
const MONDAY = 'Monday Morning System Review (9:00 AM UTC)';
const WEDNESDAY = 'Wednesday Security Review (10:00 AM UTC)';
const FRIDAY = 'Friday Performance Optimization (2:00 PM UTC)';
const AUDIT = 'First Monday of Month - Full System Audit (9:00 AM UTC)';
const APPLICATION = 'Third Monday of Month - Application Maintenance (9:00 AM UTC)';
const QUARTER = 'End of Quarter - Comprehensive Review (Last Friday, 9:00 AM UTC)';
const YEAR_END = 'Year-End Maintenance Window (December 25-26)';
/** Workflows that run in a planned window: the seed's pre-, during- and post-maintenance checklists are theirs. */
const WINDOWED = ['weeklyDatabaseMaintenance', 'annualUpgrade'];

export const CHECKLISTS: readonly ChecklistSection[] = [
  section(
    'morning',
    `${MORNING} / Checklist`,
    ['dailyHealthCheck'],
    'on-call-engineer',
    'devops-engineer',
    during(0.5),
    [
      ['availability', 'Check application availability and response times', check(c('probeHttpEndpoints', 'http'))],
      ['error-logs', 'Review error logs for critical issues', check(c('scanApplicationErrorLogs', 'k8s.error-logs'))],
      [
        'database',
        'Verify database connectivity and performance',
        check(c('checkDatabaseHealth', 'db.connectivity'), c('checkDatabaseHealth', 'db.connections')),
      ],
      ['disk', 'Check disk space utilization (< 85%)', DISKS],
      ['backup', 'Review backup status (last successful backup < 24h old)', check(c('checkBackupFreshness', 'backup'))],
      [
        'monitoring',
        'Verify monitoring alerts are functioning',
        check(
          c('checkMonitoringAlive', 'monitoring'),
          c('checkAlertingPipeline', 'monitoring.rules'),
          c('checkAlertingPipeline', 'monitoring.alertmanagers'),
          c('checkAlertingPipeline', 'monitoring.watchdog'),
          c('checkAlertingPipeline', 'monitoring.alerting'),
        ),
      ],
      [
        'certificates',
        'Check certificate expiration dates (> 30 days remaining)',
        check(c('checkCertificateExpiry', 'tls')),
      ],
      [
        'security-scan',
        'Review security scan results',
        task('read the latest vulnerability scan (no scanner is wired to this product) and note anything critical'),
        { owner: 'security-engineer', backup: 'on-call-engineer' },
      ],
    ],
  ),
  section('evening', `${EVENING} / Checklist`, ['eveningStatus'], 'on-call-engineer', 'devops-engineer', during(0.25), [
    [
      'issues',
      'Document any issues encountered during the day',
      task("write down the day's issues (the report lists the day's runs and unresolved findings)"),
    ],
    [
      'alerts-acknowledged',
      'Verify all critical alerts are acknowledged',
      task('acknowledge every unresolved critical finding the report lists'),
    ],
    ['windows', 'Check upcoming maintenance windows', check(c('resolveMaintenanceWindows', 'windows.upcoming'))],
    [
      'incident-docs',
      'Update incident response documentation if needed',
      task('update the incident response documentation, or sign off that nothing changed'),
    ],
    ['backup', 'Confirm backup completion for the day', check(c('summarizeRunsBetween', 'backup.today'))],
    [
      'performance-trends',
      'Review performance metrics trends',
      task("look at the day's performance dashboards (the Friday review compares with baselines)"),
    ],
  ]),
  section(
    'monday-db',
    `${MONDAY} / Database Maintenance`,
    ['weeklySystemReview'],
    'devops-engineer',
    'devops-lead',
    during(2),
    [
      ['slow-queries', 'Analyze slow query logs', check(c('collectDatabaseStatistics', 'db.slow-queries'))],
      [
        'indexes',
        'Check index usage and fragmentation',
        check(c('collectDatabaseStatistics', 'db.index-usage'), c('collectDatabaseStatistics', 'db.bloat')),
      ],
      ['statistics', 'Review table statistics', check(c('collectDatabaseStatistics', 'db.statistics'))],
      [
        'temp-tables',
        'Clean up old temporary tables',
        { check: [c('dropOldTempTables', 'db.temp-tables')], by: 'weeklyDatabaseMaintenance' },
      ],
      ['backup', 'Verify backup integrity', check(c('verifyNewestBackup', 'db.backup'))],
    ],
  ),
  section(
    'monday-app',
    `${MONDAY} / Application Maintenance`,
    ['weeklySystemReview'],
    'devops-engineer',
    'devops-lead',
    during(2),
    [
      ['log-patterns', 'Review application logs for patterns', check(c('scanApplicationErrorLogs', 'k8s.error-logs'))],
      [
        'memory-leaks',
        'Check for memory leaks',
        limited(
          'memory figures (against limits, and across weekly runs) need the metrics API (metrics-server) in the cluster; without it only restarts and OOMKilled are read',
          c('checkContainerRestarts', 'k8s.restarts'),
          c('checkPodResourceUsage', 'k8s.pod-resources'),
          c('measureDeploymentMemory', 'k8s.memory-trend'),
        ),
      ],
      [
        'cache',
        'Verify cache performance',
        limited(
          'the database buffer cache; the application cache has no metric here',
          c('collectDatabaseStatistics', 'db.cache-hit'),
        ),
      ],
      ['api-usage', 'Review API usage patterns', task('review API usage dashboards for unusual patterns')],
      [
        'dependencies',
        'Update dependencies (patch versions only)',
        task('apply patch-version dependency updates, or sign off that none are due'),
      ],
    ],
  ),
  section(
    'monday-infra',
    `${MONDAY} / Infrastructure Maintenance`,
    ['weeklySystemReview'],
    'devops-engineer',
    'devops-lead',
    during(2),
    [
      [
        'cluster',
        'Review Kubernetes cluster health',
        check(c('checkNodeHealth', 'k8s.node'), c('cleanupClusterResources', 'k8s.leftovers')),
      ],
      [
        'nodes',
        'Check node performance and utilization',
        limited('node conditions (Ready, pressure), not CPU or memory figures', c('checkNodeHealth', 'k8s.node')),
      ],
      ['network', 'Verify network connectivity', check(c('probeHttpEndpoints', 'http'))],
      ['load-balancer', 'Review load balancer configuration', task('review the load balancer / ingress configuration')],
      ['storage', 'Check storage utilization', DISKS],
    ],
  ),
  section(
    'wednesday',
    `${WEDNESDAY} / Security Tasks`,
    ['weeklySecurityReview'],
    'security-engineer',
    'devops-lead',
    during(1),
    [
      ['vulnerability-scan', 'Review vulnerability scan results', task('review the vulnerability scan results')],
      [
        'patches',
        'Check for security patches',
        limited(
          "release-tagged (x.y.z) images only, against their registry's newest patch release: no CVE data, so which patch fixes a vulnerability is the scanners' business",
          c('findNewestImageTag', 'image.patch-release'),
          c('collectClusterInventory', 'image-tag'),
        ),
      ],
      [
        'access-control',
        'Verify access control configurations',
        check(c('reviewClusterAdminBindings', 'k8s.cluster-admin'), c('reviewDatabaseRoles', 'db.privileged-roles')),
      ],
      [
        'audit-logs',
        'Review audit logs for suspicious activity',
        limited(
          "the maintenance approval log only, not the cluster's or the database's audit logs",
          c('auditApprovalLog', 'approval-log'),
        ),
      ],
      ['signatures', 'Update security signatures/rules', task('update WAF / IDS signatures and rules')],
      ['compliance', 'Check compliance status', task('check the compliance dashboard or tracker')],
    ],
  ),
  section(
    'friday',
    `${FRIDAY} / Performance Tasks`,
    ['weeklyPerformanceReview'],
    'performance-engineer',
    'devops-engineer',
    during(1.5),
    [
      ['trends', 'Analyze performance metrics trends', check(c('compareWithBaselines', 'baseline'))],
      ['slow-endpoints', 'Review slowest endpoints/APIs', check(c('probeHttpEndpoints', 'http'))],
      [
        'optimize-queries',
        'Optimize database queries',
        task('act on the slowest queries the report lists (db.slow-query)'),
      ],
      [
        'cache-hits',
        'Check cache hit rates',
        limited('the database buffer cache only', c('collectDatabaseStatistics', 'db.cache-hit')),
      ],
      ['autoscaling', 'Review auto-scaling configurations', task('review HPA / cluster autoscaler settings')],
      ['baselines', 'Update performance baselines', check(c('compareWithBaselines', 'baseline'))],
    ],
  ),
  section(
    'audit-system',
    `${AUDIT} / System Audit Checklist`,
    ['monthlyAudit'],
    'devops-lead',
    'engineering-lead',
    during(4),
    [
      [
        'inventory',
        'Complete infrastructure inventory',
        check(c('collectClusterInventory', 'standards'), c('collectClusterInventory', 'inventory')),
      ],
      [
        'standards',
        'Review all configurations against standards',
        limited(
          'replicas and availability of deployments against standards.minReplicas',
          c('collectClusterInventory', 'standards'),
        ),
      ],
      [
        'security-policies',
        'Verify compliance with security policies',
        task('verify compliance with the security policies'),
      ],
      ['licenses', 'Check license compliance', task('check software licence compliance')],
      ['dr-procedures', 'Review disaster recovery procedures', task('review the disaster recovery runbook')],
      ['documentation', 'Update system documentation', task('update the system documentation')],
    ],
  ),
  section(
    'audit-backup',
    `${AUDIT} / Backup and Recovery Testing`,
    ['monthlyAudit'],
    'devops-lead',
    'engineering-lead',
    during(4),
    [
      ['restore-test', 'Test backup restoration procedures', check(c('restoreTestBackup', 'db.restore-test'))],
      ['integrity', 'Verify backup integrity and completeness', check(c('restoreTestBackup', 'db.restore-test'))],
      [
        'retention',
        'Review backup retention policies',
        task('review database.backupRetention against the recovery needs'),
      ],
      ['failover', 'Test disaster recovery failover', task('run a DR failover drill and record the result')],
      [
        'rto-rpo',
        'Update recovery time objectives (RTO/RPO)',
        check(c('restoreTestBackup', 'backup.rto'), c('measureRecoveryPoint', 'backup.rpo')),
      ],
    ],
  ),
  section(
    'audit-capacity',
    `${AUDIT} / Capacity Planning`,
    ['monthlyAudit'],
    'devops-lead',
    'engineering-lead',
    during(4),
    [
      [
        'utilization',
        'Review resource utilization trends',
        limited('disk usage history only', c('forecastDiskUsage', 'capacity')),
      ],
      ['forecast', 'Forecast capacity requirements (3-6 months)', check(c('forecastDiskUsage', 'capacity'))],
      ['upgrades', 'Plan infrastructure upgrades if needed', task('plan infrastructure upgrades from the forecast')],
      ['cost', 'Review cost optimization opportunities', task('review cost optimisation opportunities')],
    ],
  ),
  section(
    'application-app',
    `${APPLICATION} / Application Tasks`,
    ['monthlyApplicationMaintenance'],
    'development-lead',
    'devops-lead',
    during(3),
    [
      ['performance', 'Review application performance metrics', task('review the application performance dashboards')],
      [
        'dependencies',
        'Update application dependencies',
        limited(
          'lists images behind standards.currentImages; the update itself is applicationUpdate',
          c('collectClusterInventory', 'image-version'),
        ),
      ],
      ['code', 'Review and optimize application code', task('review and optimise application code')],
      ['configuration', 'Update application configurations', task('update application configurations')],
      ['integrations', 'Test application integrations', task("test the application's integrations")],
      ['analytics', 'Review feature usage analytics', task('review feature usage analytics')],
    ],
  ),
  section(
    'application-db',
    `${APPLICATION} / Database Tasks`,
    ['monthlyApplicationMaintenance'],
    'development-lead',
    'devops-lead',
    during(3),
    [
      [
        'vacuum-reindex',
        'Perform database maintenance (VACUUM, REINDEX)',
        check(c('vacuumAnalyzeTables', 'db.vacuum'), c('reindexInvalidOrBloatedIndexes', 'db.reindex')),
      ],
      ['schema', 'Review and optimize database schema', task('review and optimise the database schema')],
      ['configuration', 'Update database configurations', task('update database configuration')],
      [
        'retention',
        'Review data retention policies',
        task('review the data retention policies (database.archiveAfterDays, retention rules)'),
      ],
      ['archive', 'Archive old data as needed', check(c('archiveBookingsOlderThan', 'db.archive'))],
    ],
  ),
  section(
    'quarter-strategy',
    `${QUARTER} / Strategic Review`,
    ['quarterlyReview'],
    'engineering-lead',
    'devops-lead',
    during(8),
    [
      [
        'slo',
        'Review system performance against SLAs/SLOs',
        task("compare the quarter's SLO figures with the targets (the report has maintenance success rates)"),
      ],
      ['incidents', 'Analyze incident trends and root causes', task("analyse the quarter's incidents and root causes")],
      [
        'capacity',
        'Review capacity planning accuracy',
        task("compare last quarter's capacity forecasts with what happened"),
      ],
      ['stack', 'Assess technology stack currency', task('assess how current the technology stack is')],
      ['major-changes', 'Plan for upcoming major changes', task('plan the upcoming major changes')],
    ],
  ),
  section(
    'quarter-security',
    `${QUARTER} / Security Assessment`,
    ['quarterlyReview'],
    'security-engineer',
    'engineering-lead',
    during(8),
    [
      ['pentest', 'Conduct penetration testing', task('conduct (or commission) a penetration test; link the report')],
      ['incident-response', 'Review security incident response', task('review how security incidents were handled')],
      ['threat-models', 'Update threat models', task('update the threat models')],
      ['access-control', 'Review access control effectiveness', task('review access control effectiveness')],
      ['improvements', 'Plan security improvements', task('plan security improvements')],
    ],
  ),
  section(
    'quarter-compliance',
    `${QUARTER} / Compliance Audit`,
    ['quarterlyReview'],
    'engineering-lead',
    'devops-lead',
    during(8),
    [
      ['external-audits', 'Prepare for external audits', task('prepare for external audits')],
      ['documentation', 'Review compliance documentation', task('review compliance documentation')],
      ['policies', 'Update policies and procedures', task('update policies and procedures')],
      ['internal-audit', 'Conduct internal compliance audit', task('conduct the internal compliance audit')],
    ],
  ),
  section(
    'quarter-technology',
    `${QUARTER} / Technology Refresh`,
    ['quarterlyReview'],
    'engineering-lead',
    'development-lead',
    during(8),
    [
      ['versions', 'Evaluate new technology versions', task('evaluate new versions of the stack')],
      ['migrations', 'Plan migration strategies', task('plan migration strategies')],
      ['tools', 'Update development tools', task('update development tools')],
      ['contracts', 'Review third-party service contracts', task('review third-party service contracts')],
    ],
  ),
  section(
    'annual-major',
    `${YEAR_END} / Major Tasks`,
    ['annualUpgrade'],
    'maintenance-owner',
    'engineering-lead',
    during(48),
    [
      [
        'os',
        'Operating system upgrades',
        task(
          'confirm the node OS upgrades the run drove (rollingNodeUpdate) are complete (with nodeUpdate.update.method "job", each node\'s report holds its update job\'s log)',
        ),
      ],
      [
        'applications',
        'Major application version upgrades',
        task('confirm the application upgrades the run drove (applicationUpdate) are the planned versions'),
      ],
      [
        'database',
        'Database major version upgrades',
        task('upgrade the database major version and signal databaseUpgraded'),
      ],
      [
        'platform',
        'Infrastructure platform upgrades',
        task('upgrade the infrastructure platform (control plane, ingress, storage)'),
      ],
      [
        'security-framework',
        'Security framework updates',
        task('update the security frameworks'),
        { owner: 'security-engineer' },
      ],
    ],
  ),
  section(
    'annual-planning',
    `${YEAR_END} / Planning Requirements`,
    ['annualUpgrade'],
    'maintenance-owner',
    'engineering-lead',
    { when: 'before', hours: 183 * 24 },
    [
      ['notice', '6-month advance notice to stakeholders', task('send the stakeholders the six-month notice')],
      [
        'rollback',
        'Detailed rollback procedures',
        task('write the detailed rollback procedures'),
        { due: { when: 'before', hours: 7 * 24 } },
      ],
      [
        'testing',
        'Comprehensive testing plan',
        task('write the testing plan'),
        { due: { when: 'before', hours: 7 * 24 } },
      ],
      [
        'communication',
        'Communication plan for users',
        task('publish the communication plan for users'),
        { due: { when: 'before', hours: 7 * 24 } },
      ],
      [
        'standby',
        'Emergency response team on standby',
        task('name the emergency response team on standby'),
        { due: { when: 'before', hours: 24 } },
      ],
    ],
  ),
  section(
    'emergency',
    'Emergency Maintenance Procedures / Emergency Maintenance Checklist:',
    ['emergencyMaintenance'],
    'on-call-engineer',
    'devops-lead',
    during(1),
    [
      [
        'assess',
        'Assess and document the emergency',
        task('document the emergency: what, impact, why this action (the run records a health snapshot)'),
      ],
      ['notify', 'Notify all stakeholders', task('notify the stakeholders beyond the maintenance channel')],
      ['monitoring', 'Implement monitoring for affected systems', task('put monitoring on the affected systems')],
      [
        'execute',
        'Execute emergency procedures',
        task('confirm the approved actions the run executed did what was intended'),
      ],
      [
        'stability',
        'Verify system stability',
        check(c('probeHttpEndpoints', 'http'), c('checkDatabaseHealth', 'db.connectivity')),
      ],
      ['resolution', 'Communicate resolution', task('tell the stakeholders the emergency is resolved')],
      [
        'post-mortem',
        'Conduct post-mortem analysis',
        task('write the post-mortem and link it'),
        { due: { when: 'after', hours: 24 } },
      ],
    ],
  ),
  section(
    'pre',
    'Maintenance Checklists / Pre-Maintenance Checklist',
    WINDOWED,
    'maintenance-owner',
    'on-call-engineer',
    { when: 'before', hours: 48 },
    [
      ['schedule-approved', 'Schedule approved by stakeholders', task('get the window approved by the stakeholders')],
      [
        'plan-reviewed',
        'Maintenance plan documented and reviewed',
        task('document and review the plan (`maint plan <workflow>` prints it)'),
      ],
      ['rollback', 'Rollback procedures prepared', task('prepare the rollback procedures')],
      [
        'backup',
        'Backup completed and verified',
        check(c('createDatabaseBackup', 'db.backup'), c('verifyBackup', 'backup')),
      ],
      [
        'monitoring',
        'Monitoring alerts configured',
        limited(
          'that alerts reach a receiver and the rules are evaluated, not that the rules cover every system in the window',
          c('checkMaintenanceAlerts', 'alerts.configured'),
          c('checkAlertingPipeline', 'monitoring.rules'),
          c('checkAlertingPipeline', 'monitoring.alertmanagers'),
          c('checkAlertingPipeline', 'monitoring.watchdog'),
          c('checkAlertingPipeline', 'monitoring.alerting'),
        ),
      ],
      ['communication', 'Communication plan in place', task('put the communication plan in place')],
      ['standby', 'Support team on standby', task('name the support team on standby')],
    ],
  ),
  section(
    'during',
    'Maintenance Checklists / During Maintenance Checklist',
    WINDOWED,
    'maintenance-owner',
    'on-call-engineer',
    during(4),
    [
      [
        'health-check',
        'Pre-maintenance health check completed',
        task('confirm the health check before work started was clean'),
      ],
      ['on-time', 'Maintenance window started on time', task('confirm the window started on time')],
      [
        'status-updates',
        'Status updates provided regularly',
        limited(
          'updates in the maintenance channel while the work runs (stakeholders outside it are not told)',
          c('postSlackMessage', 'window.status-updates'),
        ),
      ],
      ['issues', 'Issues documented and escalated as needed', task('document and escalate issues met in the window')],
      ['testing', 'Testing performed at each step', task('test after each step')],
      ['rollback-ready', 'Rollback procedures ready if needed', task('keep the rollback procedures ready')],
    ],
  ),
  section(
    'post',
    'Maintenance Checklists / Post-Maintenance Checklist',
    WINDOWED,
    'maintenance-owner',
    'on-call-engineer',
    { when: 'after', hours: 24 },
    [
      [
        'health',
        'System health verified',
        check(
          c('probeHttpEndpoints', 'http'),
          c('checkDatabaseHealth', 'db.connectivity'),
          c('collectDatabaseStatistics', 'db.statistics'),
        ),
      ],
      ['changes', 'All changes documented', task('document every change made in the window')],
      [
        'alerts-cleared',
        'Monitoring alerts cleared',
        limited(
          'the blocking alerts and those the window silence expected, as Alertmanager shows them after the work',
          c('checkAlertsCleared', 'alerts.cleared'),
        ),
      ],
      [
        'stakeholders',
        'Stakeholders notified of completion',
        {
          check: [c('windowReportsEndedBetween', 'window.report')],
          limit:
            "the run's report in the maintenance channel within 24 h of the window's end (stakeholders outside it are not told)",
          by: 'eveningStatus',
        },
      ],
      ['post-mortem', 'Post-mortem conducted within 24 hours', task('hold the post-mortem and link it')],
      ['lessons', 'Lessons learned documented', task('write down the lessons learned')],
    ],
  ),
  section(
    'success',
    'Maintenance Checklists / Maintenance Success Criteria',
    WINDOWED,
    'maintenance-owner',
    'engineering-lead',
    { when: 'after', hours: 24 },
    [
      ['tasks-completed', 'All planned tasks completed', task('confirm every planned task was completed')],
      ['no-critical', 'No critical issues introduced', task('confirm no critical issue was introduced')],
      [
        'performance',
        'System performance meets or exceeds baselines',
        task('confirm performance meets the baselines (the Friday review compares them)'),
      ],
      ['stakeholders', 'All stakeholders satisfied with outcome', task('confirm the stakeholders are satisfied')],
      ['documentation', 'Documentation updated with changes', task('update the documentation with the changes')],
    ],
  ),
];

export const CHECKLIST_ITEMS: readonly ChecklistItem[] = CHECKLISTS.flatMap((s) => s.items);

/** The items a run of this workflow kind accounts for, in seed order. */
export function checklistFor(kind: string): ChecklistItem[] {
  return CHECKLISTS.filter((s) => s.workflows.includes(kind)).flatMap((s) => s.items);
}

export function findItem(kind: string, id: string): ChecklistItem | undefined {
  return checklistFor(kind).find((i) => i.id === id);
}

export function describeDue(d: Due): string {
  const span = d.hours >= 48 && d.hours % 24 === 0 ? `${d.hours / 24} days` : `${d.hours} h`;
  if (d.when === 'before') return `${span} before the window opens`;
  if (d.when === 'during') return `within the window (${span})`;
  return `within ${span} after the window`;
}

/** Roles to people (config `checklistRoles`): the owner first, then the backup who takes over. */
export const ChecklistRolesSchema = z
  .partialRecord(
    z.enum(ROLES),
    z
      .array(z.string().regex(/^[a-z0-9][a-z0-9._@-]*$/i, 'use letters, digits, ".", "_", "@" or "-"'))
      .min(1)
      .max(20),
  )
  .default({});
export type ChecklistRoles = z.output<typeof ChecklistRolesSchema>;

// --- How a run accounts for its checklist ---------------------------------------------------

export type ItemState =
  CheckStatus | 'not-measured' | 'elsewhere' | 'awaiting-sign-off' | 'signed-off' | 'blocked' | 'not-applicable';

export interface ItemAccount {
  id: string;
  text: string;
  state: ItemState;
  /** The findings' summary, what the run measured instead, or whom a task awaits. */
  detail: string;
}

export interface ChecklistAccount {
  items: ItemAccount[];
  checked: number;
  openTasks: number;
  /** "complete" only when every item has a finding or a sign-off. */
  status: 'complete' | 'open';
}

/** What a person says of a task: done, blocked (still open, with why), or not applicable here (with why). */
export const SIGN_OFF_STATUSES = ['done', 'blocked', 'not-applicable'] as const;
export type SignOffStatus = (typeof SIGN_OFF_STATUSES)[number];

export interface SignOff {
  item: string;
  by: string;
  at: string;
  /** Absent: done (sign-offs recorded before statuses existed). */
  status?: SignOffStatus;
  /** The evidence of a done task; the reason of a blocked or not-applicable one. */
  comment?: string;
  /** Where it was signed: `cli` (`maint signoff`) or `slack` (a button, through the bridge). */
  via?: string;
}

function accountFor(item: ChecklistItem, checks: readonly CheckResult[], signOffs: readonly SignOff[]): ItemAccount {
  const base = { id: item.id, text: item.text };
  if ('task' in item.means) {
    const signed = signOffs.find((s) => s.item === item.id);
    if (!signed)
      return {
        ...base,
        state: 'awaiting-sign-off',
        detail: `awaiting sign-off by ${item.owner} (backup ${item.backup}): ${item.means.task}`,
      };
    const said = signed.comment ? `: ${signed.comment}` : '';
    const status = signed.status ?? 'done';
    return status === 'done'
      ? { ...base, state: 'signed-off', detail: `signed off by ${signed.by} at ${signed.at}${said}` }
      : { ...base, state: status, detail: `${status} per ${signed.by} at ${signed.at}${said}` };
  }
  const keys = item.means.check.map((r) => r.finding);
  if (item.means.by)
    return { ...base, state: 'elsewhere', detail: `met by ${item.means.by} runs (${keys.join(', ')})` };
  const found = checks.filter((r) => keys.includes(r.check));
  const limit = item.means.limit ? `; covers ${item.means.limit}` : '';
  if (found.length === 0)
    return { ...base, state: 'not-measured', detail: `no ${keys.join(' / ')} finding in this run${limit}` };
  const counts = new Map<string, number>();
  for (const r of found) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  return {
    ...base,
    state: worstStatus(found.map((r) => r.status)),
    detail: `${keys.join(', ')}: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}${limit}`,
  };
}

/** Every item of the kind's checklist, against the run's findings and the sign-offs recorded so far. */
export function accountChecklist(
  kind: string,
  checks: readonly CheckResult[],
  signOffs: readonly SignOff[] = [],
): ChecklistAccount | undefined {
  const items = checklistFor(kind);
  if (items.length === 0) return undefined;
  const accounts = items.map((i) => accountFor(i, checks, signOffs));
  const openTasks = accounts.filter((a) => a.state === 'awaiting-sign-off').length;
  const checked = accounts.filter((a) => MEASURED.has(a.state)).length;
  const unmet = accounts.filter((a) => UNMEASURED.has(a.state)).length;
  // A blocked task was answered, so nobody is chased for it, but it is not done: the checklist stays open.
  const blocked = accounts.filter((a) => a.state === 'blocked').length;
  return { items: accounts, checked, openTasks, status: openTasks + unmet + blocked === 0 ? 'complete' : 'open' };
}

const MEASURED: ReadonlySet<ItemState> = new Set(['ok', 'warn', 'critical']);
/** No finding, or only findings that say why nothing could be measured. */
const UNMEASURED: ReadonlySet<ItemState> = new Set(['not-measured', 'skipped']);

/** One line for the summary: how much of the checklist the run met and what is left to people. */
export function describeAccount(a: ChecklistAccount): string {
  const unmet = a.items.filter((i) => UNMEASURED.has(i.state)).length;
  const count = (state: ItemState) => a.items.filter((i) => i.state === state).length;
  const signed = count('signed-off');
  const notApplicable = count('not-applicable');
  const blocked = count('blocked');
  const elsewhere = count('elsewhere');
  return [
    `checklist ${a.status}: ${a.checked} of ${a.items.length} items checked`,
    ...(signed ? [`${signed} signed off`] : []),
    ...(notApplicable ? [`${notApplicable} not applicable`] : []),
    ...(blocked ? [`${blocked} blocked`] : []),
    ...(a.openTasks ? [`${a.openTasks} awaiting sign-off`] : []),
    ...(unmet ? [`${unmet} not measured`] : []),
    ...(elsewhere ? [`${elsewhere} met by other runs`] : []),
  ].join(', ');
}
