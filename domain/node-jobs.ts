import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { imageReference } from './kubernetes-names.js';

// Node jobs: work on a node's host OS (package updates, disk cleanup, a reboot) as a Kubernetes
// Job pinned to that node, privileged, entering the host's namespaces with nsenter, the way kured
// and system-upgrade-controller do it. Sandbox-safe: workflows name the Jobs they compensate.

export const NODE_JOB_PURPOSES = ['system-update', 'disk-cleanup', 'reboot'] as const;
export type NodeJobPurpose = (typeof NODE_JOB_PURPOSES)[number];

/** A node job as `startNodeJob` made (or found) it. */
export interface NodeJobRef {
  name: string;
  namespace: string;
  node: string;
  purpose: NodeJobPurpose;
  image: string;
  commands: string[];
  /** False when a retry found the Job the first attempt made. */
  created: boolean;
}

export interface NodeJobResult {
  name: string;
  node: string;
  /** From the script's last line: the host has `/var/run/reboot-required` (undefined for a reboot job). */
  rebootRequired?: boolean;
  /** The tail of the job pod's log (at most NODE_JOB_LOG_LINES lines, URL passwords masked). */
  log: string[];
  waitedMs: number;
}

export interface NodeDiskFigure {
  node: string;
  /** The kubelet's DiskPressure condition (its eviction threshold on the node's filesystems crossed). */
  diskPressure: boolean;
  /** Root filesystem used, from node-exporter through Prometheus; undefined without one. */
  usedPercent?: number;
  /** Why the node needs a cleanup (DiskPressure, or use over the threshold); undefined: it does not. */
  over?: string;
}

/** Every node's disk state, and what a cleanup would run. */
export interface NodeDiskSurvey {
  thresholdPercent: number;
  /** Where the figures come from: node-exporter through Prometheus, or the kubelets' conditions alone. */
  source: string;
  image: string;
  commands: string[];
  nodes: NodeDiskFigure[];
}

/** The last line a job's script prints: whether the host has kured's sentinel `/var/run/reboot-required`. */
export const REBOOT_MARKER = 'trixtech-maintenance: reboot-required=';
export const REBOOT_SENTINEL = '/var/run/reboot-required';

/** Lines of a job pod's log kept in the report (the tail). */
export const NODE_JOB_LOG_LINES = 200;

/**
 * A pinned tag, never `latest` (the image runs privileged on every node): debian's slim image has
 * `nsenter` (util-linux), which is all the container needs; the commands run in the host's own
 * namespaces, with the host's tools.
 */
export const DEFAULT_NODE_JOB_IMAGE = 'debian:12.8-slim';

/** Seed `system_update.sh` (Maintenance Setup Guide, "System Updates"), run on the host. */
export const SYSTEM_UPDATE_COMMANDS = [
  'apt-get update',
  'apt-get upgrade -y -o Dpkg::Options::=--force-confold',
  'apt-get autoremove -y',
  'apt-get autoclean',
  // The seed installs unattended-upgrades and asks it about security updates; here it applies them.
  'apt-get install -y unattended-upgrades',
  'unattended-upgrade -v',
];

/**
 * Seed `disk_cleanup.sh` (Maintenance Setup Guide, "Disk Cleanup"), run on the host: package
 * cache, old kernels (`autoremove --purge`: apt never marks the running kernel removable, unlike
 * the seed's `dpkg -l | grep linux-image` which could pick its headers), unused container images
 * (the nodes run containerd: `crictl`, not the seed's `docker system prune`), temporary files
 * older than 7 days, rotated logs older than 30 days, the journal beyond 30 days.
 */
export const DISK_CLEANUP_COMMANDS = [
  'apt-get clean',
  'apt-get autoclean',
  'apt-get autoremove --purge -y',
  'crictl rmi --prune',
  'find /tmp /var/tmp -xdev -type f -mtime +7 -delete',
  "find /var/log -xdev -type f \\( -name '*.gz' -o -name '*.old' \\) -mtime +30 -delete",
  'journalctl --vacuum-time=30d',
];

export const REBOOT_COMMANDS = ['systemctl reboot'];

const command = z
  .string()
  .trim()
  .min(1)
  .max(2000)
  .refine((c) => !/[\0\n\r]/.test(c), 'one command per entry (no newlines or NUL)');
const commands = z.array(command).min(1).max(50);

/** An image with a tag or digest other than `latest`: what runs privileged must not change under us. */
export const pinnedImage = imageReference.refine((ref) => {
  if (ref.includes('@sha256:')) return true;
  const tag = /:([^/:]+)$/.exec(ref)?.[1];
  return tag !== undefined && tag !== 'latest';
}, 'expected a pinned image (a version tag or @sha256 digest), never :latest or no tag');

/** Config `nodeJobs`: the image and commands are the worker's configuration, never a workflow input. */
export const NodeJobSettingsSchema = z
  .object({
    image: pinnedImage.default(DEFAULT_NODE_JOB_IMAGE),
    systemUpdate: commands.default(SYSTEM_UPDATE_COMMANDS),
    diskCleanup: commands.default(DISK_CLEANUP_COMMANDS),
    reboot: commands.default(REBOOT_COMMANDS),
    /** Finished Jobs (and their pods, with the log) are removed by Kubernetes this long after. */
    ttlSecondsAfterFinished: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400)
      .default(86_400),
    /** Added to every job pod (e.g. `sidecar.istio.io/inject: "false"`). */
    podAnnotations: z.record(z.string().min(1).max(253), z.string().max(1000)).default({}),
  })
  .strict();
export type NodeJobSettings = z.output<typeof NodeJobSettingsSchema>;
export const NODE_JOB_DEFAULTS: NodeJobSettings = NodeJobSettingsSchema.parse({});

export const commandsFor = (settings: NodeJobSettings, purpose: NodeJobPurpose): string[] =>
  purpose === 'system-update'
    ? settings.systemUpdate
    : purpose === 'disk-cleanup'
      ? settings.diskCleanup
      : settings.reboot;

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The script the job runs on the host: stops at the first failing command (its log shows which,
 * each command echoed before it runs); update and cleanup jobs end with the reboot marker.
 */
export function nodeJobScript(commandList: readonly string[], purpose: NodeJobPurpose): string {
  return [
    'set -eu',
    'export DEBIAN_FRONTEND=noninteractive',
    ...commandList.flatMap((c) => [`echo ${shellQuote(`+ ${c}`)}`, c]),
    ...(purpose === 'reboot'
      ? []
      : [`if [ -e ${REBOOT_SENTINEL} ]; then echo '${REBOOT_MARKER}yes'; else echo '${REBOOT_MARKER}no'; fi`]),
  ].join('\n');
}

/** The container's command: the script in the host's mount, UTS, IPC, network and PID namespaces (PID 1's). */
export const nodeJobCommand = (script: string) => [
  'nsenter',
  '-t',
  '1',
  '-m',
  '-u',
  '-i',
  '-n',
  '-p',
  '--',
  'sh',
  '-c',
  script,
];

/**
 * The Job's name, derived from the run and the node: a retried activity (or compensation) finds
 * the Job the first attempt made instead of making a second. At most 63 characters (Job names
 * become label values).
 */
export function nodeJobName(workflowId: string, node: string, purpose: NodeJobPurpose): string {
  const hash = bytesToHex(sha256(utf8ToBytes(`${workflowId}\n${node}\n${purpose}`))).slice(0, 16);
  return `node-${purpose}-${hash}`;
}

/** A label value naming the run (workflow ids may hold characters labels may not): every Job of one run shares it. */
export const nodeJobRunLabel = (workflowId: string): string => bytesToHex(sha256(utf8ToBytes(workflowId))).slice(0, 16);

/** `yes`/`no` from the marker line of a log, or undefined when the script never got there. */
export function rebootRequiredFrom(log: readonly string[]): boolean | undefined {
  const line = log.findLast((l) => l.includes(REBOOT_MARKER));
  if (!line) return undefined;
  return line.slice(line.indexOf(REBOOT_MARKER) + REBOOT_MARKER.length).trim() === 'yes';
}
