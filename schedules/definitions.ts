import type { CalendarSpec } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { ScheduleOverlapPolicy } from '@temporalio/client';

/** A schedule we own: the seed calendar as data. `apply` makes the server match this list. */
export interface ManagedSchedule {
  id: string;
  workflowType: string;
  /** Shown in the Temporal UI as the run's summary. */
  summary: string;
  /** What the run does and what guards it: shown as a list in the run's details in the UI. */
  checklist: string[];
  /** Temporal calendar specs, UTC. A spec matches when every field matches (no cron OR-ing). */
  calendars: CalendarSpec[];
  /** Times the calendars match that must not fire (Temporal skip specs, UTC; unset fields mean 0). */
  skip?: CalendarSpec[];
  overlap: ScheduleOverlapPolicy;
  /** How late a missed action (server down at fire time) may still start. */
  catchupWindow: Duration;
  input?: Record<string, unknown>;
}

export const SCHEDULES: ManagedSchedule[] = [
  {
    id: 'daily-health-check',
    workflowType: 'dailyHealthCheck',
    summary: 'Morning health check, 08:00 UTC (Routine Maintenance Guide)',
    checklist: [
      'HTTP availability and response time, database connectivity / connections / replication',
      'disk usage, newest backup verified readable and its age, TLS certificate expiry (real handshake)',
      'Kubernetes error logs, pod resources, node health; monitoring alive',
      'each check ok / warn / critical / skipped with value and threshold; criticals alert',
    ],
    calendars: [{ hour: 8, minute: 0, comment: 'daily 08:00 UTC' }],
    // A check still running means the next one would measure the same state: skip it.
    overlap: ScheduleOverlapPolicy.SKIP,
    // A morning check more than an hour late is stale; the next day's run takes over.
    catchupWindow: '1 hour',
  },
  {
    id: 'evening-status',
    workflowType: 'eveningStatus',
    summary: 'Evening status update, 18:00 UTC (Routine Maintenance Guide)',
    checklist: [
      "today's runs and outcomes from `maintenance_runs`",
      "findings still critical, the day's backup confirmed from its dailyBackup result",
      'maintenance windows of the next 48 h; one-week notices for monthly and annual windows, the 48-hour notice for the weekly one',
      'the post-maintenance report of every window that closed 24 to 48 h ago: posted, and within 24 h',
    ],
    calendars: [{ hour: 18, minute: 0, comment: 'daily 18:00 UTC' }],
    overlap: ScheduleOverlapPolicy.SKIP,
    // The digest is still useful late in the evening, not the next day.
    catchupWindow: '4 hours',
  },
  {
    id: 'app-cache-cleanup',
    workflowType: 'applicationCacheCleanup',
    summary: 'Application cache cleanup, every 6 hours from 00:00 UTC (Maintenance Setup Guide app-cache-cleanup)',
    checklist: [
      'POST to each `targets.cacheClear` endpoint (bearer token from the environment)',
      '5xx retried, 4xx reported; Slack only when an endpoint failed',
    ],
    calendars: [{ hour: { start: 0, end: 23, step: 6 }, minute: 0, comment: '00:00, 06:00, 12:00, 18:00 UTC' }],
    overlap: ScheduleOverlapPolicy.SKIP,
    // A missed clear is worth doing within the hour; after that the next one is near.
    catchupWindow: '1 hour',
  },
  {
    id: 'checklist-follow-up',
    workflowType: 'checklistFollowUp',
    summary: 'Checklist tasks followed up, hourly at :30 UTC (Routine Maintenance Guide, Team Coordination)',
    checklist: [
      'tasks of the last 14 days nobody signed off: the owner role reminded after 24 h',
      'still unanswered 24 h after the reminder: handed to the backup role, each notice once',
    ],
    calendars: [{ hour: { start: 0, end: 23 }, minute: 30, comment: 'hourly at :30 UTC' }],
    overlap: ScheduleOverlapPolicy.SKIP,
    // A missed pass is made up by the next one.
    catchupWindow: '1 hour',
  },
  {
    id: 'storage-cleanup',
    workflowType: 'storageCleanup',
    summary: 'Log and backup retention, daily 01:00 UTC (Maintenance Setup Guide log-cleanup-daily)',
    checklist: [
      'every configured `retention` rule (regular files only, never through links)',
      'database dumps past `database.backupRetention`; never the newest dump verified readable, none without one',
      'disk usage before and after',
    ],
    calendars: [{ hour: 1, minute: 0, comment: 'daily 01:00 UTC' }],
    // Two runs would race to delete the same files: harmless, but pointless.
    overlap: ScheduleOverlapPolicy.SKIP,
    // Late cleanup is as good as on time, until the next day's run does it anyway.
    catchupWindow: '12 hours',
  },
  {
    id: 'node-disk-cleanup',
    workflowType: 'nodeDiskCleanup',
    summary: 'Node disk cleanup, daily 05:00 UTC, report only (Maintenance Setup Guide disk_cleanup.sh)',
    checklist: [
      "every node's root filesystem against the disk threshold (node-exporter through Prometheus) and its DiskPressure",
      'report mode: the nodes a cleanup would touch and the commands it would run there; nothing runs',
      'mode clean (by hand, or set in this input): the cleanup as a privileged Job on each such node, one at a time',
    ],
    calendars: [{ hour: 5, minute: 0, comment: 'daily 05:00 UTC' }],
    overlap: ScheduleOverlapPolicy.SKIP,
    // A report more than a few hours late is superseded by the next day's.
    catchupWindow: '6 hours',
    input: { mode: 'report' },
  },
  {
    id: 'app-update-weekly',
    workflowType: 'applicationImageUpdate',
    summary: 'Weekly image updates from the registry, Sunday 03:00 UTC (Maintenance Setup Guide app-update-weekly)',
    checklist: [
      'per configured deployment (config `imageUpdates`): the newest release tag in its registry its semver policy allows',
      'nothing rolls out while blocking alerts fire',
      'set image, wait for the rollout, health probes; a failure rolls back to the recorded revision',
    ],
    calendars: [{ dayOfWeek: 'SUNDAY', hour: 3, minute: 0, comment: 'Sunday 03:00 UTC' }],
    // Two runs would roll the same deployments out side by side.
    overlap: ScheduleOverlapPolicy.SKIP,
    // Still inside Sunday's quiet hours within three hours; later, wait for next week.
    catchupWindow: '3 hours',
  },
  {
    id: 'cluster-storage-cleanup',
    workflowType: 'clusterStorageCleanup',
    summary: 'Cluster storage cleanup, Sunday 04:00 UTC (Maintenance Setup Guide storage-maintenance)',
    checklist: [
      'Released PersistentVolumes, claims whose volume is gone',
      'completed Jobs finished more than 24 h ago',
      'ReplicaSets at zero replicas beyond revisionHistoryLimit; never the current one nor the one a rollback needs',
      'every deletion listed in the report',
    ],
    calendars: [{ dayOfWeek: 'SUNDAY', hour: 4, minute: 0, comment: 'Sunday 04:00 UTC' }],
    // Two runs would race to delete the same objects: harmless, but pointless.
    overlap: ScheduleOverlapPolicy.SKIP,
    // Late cleanup is as good as on time; next Sunday's run does it anyway.
    catchupWindow: '1 day',
    input: { mode: 'apply' },
  },
  {
    id: 'daily-backup',
    workflowType: 'dailyBackup',
    summary: 'Daily backup, 01:00 UTC, verified readable (Routine Maintenance Guide: backup < 24 h old)',
    checklist: [
      'pg_dump with a manifest (sha256, size, server version, per-table row counts), written atomically',
      'verified intact (sha256 + size) and readable (every byte read back)',
      'size, duration and growth reported; a failure alerts; the evening status confirms it',
    ],
    // 01:00 is outside every seed window but the annual one (Sunday's opens at 02:00), so the dump
    // never competes with maintenance for the database. storage-cleanup fires at 01:00 too:
    // retention never counts the dump being written (hidden until complete) and keeps the newest
    // readable one, so the two need no ordering. On Sundays weekly-db-maintenance's guard, at
    // 02:00, finds this dump fresh and takes no second one.
    calendars: [{ hour: 1, minute: 0, comment: 'daily 01:00 UTC' }],
    // The one window 01:00 falls in: Dec 25-26, when people may be upgrading the database itself.
    // That window's pre-maintenance step takes (and reads back) its own fresh dump instead.
    skip: [
      { month: 'DECEMBER', dayOfMonth: { start: 25, end: 26 }, hour: 1, minute: 0, comment: 'annual window Dec 25-26' },
    ],
    // Two dumps side by side double the load for nothing.
    overlap: ScheduleOverlapPolicy.SKIP,
    // A dump taken late still resets the RPO; once the window nears (02:00 Sunday), a day-late one
    // is still better than none, so catch up for most of the day.
    catchupWindow: '12 hours',
  },
  {
    id: 'weekly-db-maintenance',
    workflowType: 'weeklyDatabaseMaintenance',
    summary: 'Weekly database maintenance, Sunday 02:00-06:00 UTC window (Maintenance Setup Guide db_maintenance.sh)',
    checklist: [
      'one-hour notice, then waits for the Sunday 02:00-06:00 window',
      'guard: a backup younger than 24 h verified readable (taken if missing)',
      'VACUUM ANALYZE, REINDEX CONCURRENTLY, statistics',
      'archive of bookings older than 2 years in short batches, conservation verified',
      'expired sessions and reset tokens, temp tables matching the configured rule',
      'monitoring alerts configured before the work, cleared after it',
      'a status update every 30 minutes while the work runs in the window',
    ],
    // Fires an hour early: the run posts the notice (seed "maintenance-notification" CronJob, Sunday
    // 01:00) and then waits durably for the window.
    calendars: [{ dayOfWeek: 'SUNDAY', hour: 1, minute: 0, comment: 'Sunday 01:00 UTC, one hour before the window' }],
    // A run still going (a long archive) must not get a second one moving the same rows beside it.
    overlap: ScheduleOverlapPolicy.SKIP,
    // Started up to 03:00 it still has three hours of window; later, the work would crowd its end.
    catchupWindow: '2 hours',
    input: { windowPolicy: 'wait' },
  },
  {
    id: 'weekly-system-review',
    workflowType: 'weeklySystemReview',
    summary: 'Monday morning system review, 09:00 UTC (Routine Maintenance Guide)',
    checklist: [
      'database statistics, backup integrity (newest backup verified readable)',
      'application error logs, pod resources',
      'node health, storage, connectivity, orphaned cluster resources (listed, not deleted)',
    ],
    calendars: [{ dayOfWeek: 'MONDAY', hour: 9, comment: 'Mondays 09:00 UTC' }],
    overlap: ScheduleOverlapPolicy.SKIP,
    // The review is for the week ahead: still useful the same day, stale after.
    catchupWindow: '12 hours',
  },
  {
    id: 'weekly-security-review',
    workflowType: 'weeklySecurityReview',
    summary: 'Wednesday security review, 10:00 UTC (Routine Maintenance Guide)',
    checklist: [
      'certificate expiry',
      'superuser database roles, cluster-admin bindings',
      'images running by a mutable tag',
      'audit of our own approval log',
    ],
    calendars: [{ dayOfWeek: 'WEDNESDAY', hour: 10, comment: 'Wednesdays 10:00 UTC' }],
    overlap: ScheduleOverlapPolicy.SKIP,
    // Reviewed findings are still news the same day; a day late, next week's run covers them.
    catchupWindow: '12 hours',
  },
  {
    id: 'weekly-performance-review',
    workflowType: 'weeklyPerformanceReview',
    summary: 'Friday performance review, 14:00 UTC (Routine Maintenance Guide)',
    checklist: [
      'slowest endpoints and queries, cache hit ratio',
      'each compared with its stored baseline, then the baseline updated',
    ],
    calendars: [{ dayOfWeek: 'FRIDAY', hour: 14, comment: 'Fridays 14:00 UTC' }],
    // Baselines are folded in once per run: never two runs side by side.
    overlap: ScheduleOverlapPolicy.SKIP,
    catchupWindow: '12 hours',
  },
  {
    id: 'monthly-audit',
    workflowType: 'monthlyAudit',
    summary: 'Full system audit, first Monday of the month 09:00 UTC (Routine Maintenance Guide)',
    checklist: [
      'inventory: nodes, deployments, PDBs',
      'configuration against the declared standards',
      'backup restore test (level restored), RTO and RPO against the objectives',
      '3-6 month disk forecast from stored history',
    ],
    // "First Monday": a Monday that is also one of the month's first seven days (every field must match).
    calendars: [{ dayOfWeek: 'MONDAY', dayOfMonth: { start: 1, end: 7 }, hour: 9, comment: 'first Monday 09:00 UTC' }],
    overlap: ScheduleOverlapPolicy.SKIP,
    // An audit two days late is still this month's audit.
    catchupWindow: '2 days',
  },
  {
    id: 'monthly-app-maintenance',
    workflowType: 'monthlyApplicationMaintenance',
    summary: 'Application maintenance, third Monday of the month 09:00 UTC (Routine Maintenance Guide)',
    checklist: [
      'images behind `standards.currentImages`',
      'VACUUM, REINDEX, archive inside the third-Monday window (a `weeklyDatabaseMaintenance` child)',
    ],
    calendars: [
      { dayOfWeek: 'MONDAY', dayOfMonth: { start: 15, end: 21 }, hour: 9, comment: 'third Monday 09:00 UTC' },
    ],
    // It moves data: never beside a previous run still archiving.
    overlap: ScheduleOverlapPolicy.SKIP,
    // Its window is three hours; started later than that it would only skip.
    catchupWindow: '3 hours',
    input: { windowPolicy: 'wait' },
  },
  {
    id: 'quarterly-review',
    workflowType: 'quarterlyReview',
    summary: 'End-of-quarter review, last Friday of the quarter 09:00 UTC (Routine Maintenance Guide)',
    checklist: [
      'success rate and durations of every maintenance kind',
      'failures and their causes',
      'approval latency',
    ],
    // "Last Friday" is the Friday among the month's last seven days: 25-31 in March and
    // December, 24-30 in June and September. Every field of a spec must match.
    calendars: [
      {
        month: ['MARCH', 'DECEMBER'],
        dayOfMonth: { start: 25, end: 31 },
        dayOfWeek: 'FRIDAY',
        hour: 9,
        comment: 'last Friday of Q1/Q4',
      },
      {
        month: ['JUNE', 'SEPTEMBER'],
        dayOfMonth: { start: 24, end: 30 },
        dayOfWeek: 'FRIDAY',
        hour: 9,
        comment: 'last Friday of Q2/Q3',
      },
    ],
    overlap: ScheduleOverlapPolicy.SKIP,
    // A review a day late is still the quarter's review; older than that, run it by hand.
    catchupWindow: '1 day',
  },
  {
    id: 'annual-upgrade',
    workflowType: 'annualUpgrade',
    summary: 'Year-end maintenance window Dec 25-26: planning starts six months ahead (Routine Maintenance Guide)',
    checklist: [
      "six months' notice of the stored plan (maint plan annual), two-person approval of it as it is a week ahead",
      'an amended plan is approved again; when the window opens it is read once more and its nodes chosen by its rule',
      'then: fresh backup verified readable, monitoring alive and alerts configured, recorded rollback revisions',
      'rolling node updates, application upgrades, database step as a human checkpoint, monitoring alerts cleared',
      'nothing runs without both approvals, with a plan amended since, or under a blackout',
    ],
    // June 25 gives the seed's six-month notice; the run then sleeps durably until the
    // one-week notice and approval, and the window itself.
    calendars: [{ month: 'JUNE', dayOfMonth: 25, hour: 0, comment: 'six months before Dec 25' }],
    // One year's run spans six months: never start a second one beside it.
    overlap: ScheduleOverlapPolicy.SKIP,
    // Planning a few days late still leaves months of notice.
    catchupWindow: '7 days',
  },
];
