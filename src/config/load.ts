import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { EnvSchema, FileConfigSchema, type Config, type RegistryCredential } from './schema.js';

// Loading: the environment and the optional JSON file (MAINT_CONFIG) checked against the schema
// once, at process start, and mapped to the Config every entry point uses.

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describeIssues(source: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const field = issue.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
      .join('.')
      .replace(/\.\[/g, '[');
    return `${source}${field ? ` ${field}` : ''}: ${issue.message}`;
  });
}

/** Loads and validates configuration; throws ConfigError naming every bad field. */
export function loadConfig(rawEnv: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  // An empty variable means unset, as in most shells' `VAR= command` idiom.
  const env = Object.fromEntries(Object.entries(rawEnv).filter(([, v]) => v !== '')) as NodeJS.ProcessEnv;
  const envResult = EnvSchema.safeParse(env);
  if (!envResult.success) problems.push(...describeIssues('env', envResult.error));

  let fileRaw: unknown = {};
  const file = env.MAINT_CONFIG;
  if (file) {
    try {
      fileRaw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      problems.push(`config file ${file}: ${(err as Error).message}`);
    }
  }
  const fileResult = FileConfigSchema.safeParse(fileRaw);
  if (!fileResult.success) problems.push(...describeIssues(`config file ${file ?? ''}`.trim(), fileResult.error));
  const cacheClearTokens: Record<string, string> = {};
  fileResult.data?.targets.cacheClear.forEach((t, i) => {
    if (!t.tokenEnv) return;
    const token = env[t.tokenEnv];
    if (token) cacheClearTokens[t.name] = token;
    else
      problems.push(
        `config file ${file} targets.cacheClear[${i}].tokenEnv: environment variable ${t.tokenEnv} is not set`,
      );
  });
  const registryCredentials: Record<string, RegistryCredential> = {};
  fileResult.data?.registries.forEach((r, i) => {
    const field = `config file ${file} registries[${i}]`;
    let password: string | undefined;
    if (r.passwordEnv) {
      password = env[r.passwordEnv];
      if (!password) problems.push(`${field}.passwordEnv: environment variable ${r.passwordEnv} is not set`);
    } else if (r.passwordFile) {
      try {
        // One trailing newline is the file's, not the password's (echo, Kubernetes secrets from files).
        password = readFileSync(r.passwordFile, 'utf8').replace(/\r?\n$/, '');
        if (!password) problems.push(`${field}.passwordFile: ${r.passwordFile} is empty`);
      } catch (err) {
        problems.push(`${field}.passwordFile: ${(err as Error).message}`);
      }
    }
    if (password) registryCredentials[r.host] = { username: r.username, password, realmHost: r.realmHost };
  });
  if (
    envResult.success &&
    envResult.data.BRIDGE_PORT !== 0 &&
    envResult.data.BRIDGE_PORT === envResult.data.BRIDGE_HEALTH_PORT
  ) {
    problems.push(`env BRIDGE_HEALTH_PORT: must differ from BRIDGE_PORT (${envResult.data.BRIDGE_PORT})`);
  }
  if (!envResult.success || !fileResult.success || problems.length > 0) throw new ConfigError(problems);

  const e = envResult.data;
  const f = fileResult.data;
  return {
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TASK_QUEUE,
      apiKey: e.TEMPORAL_API_KEY,
      tls: e.TEMPORAL_TLS ?? Boolean(e.TEMPORAL_API_KEY),
    },
    databaseUrl: e.DATABASE_URL,
    reportDatabaseUrl: e.MAINT_DATABASE_URL,
    slack: {
      webhookUrl: e.SLACK_WEBHOOK_URL,
      alertWebhookUrl: e.SLACK_ALERT_WEBHOOK_URL,
      tasksWebhookUrl: e.SLACK_TASKS_WEBHOOK_URL,
      signingSecret: e.SLACK_SIGNING_SECRET,
    },
    metrics: { host: e.METRICS_HOST, port: e.METRICS_PORT, sdkPort: e.SDK_METRICS_PORT },
    bridge: {
      host: e.BRIDGE_HOST,
      port: e.BRIDGE_PORT,
      healthPort: e.BRIDGE_HEALTH_PORT,
      maxConnections: e.BRIDGE_MAX_CONNECTIONS,
      requestTimeoutMs: e.BRIDGE_REQUEST_TIMEOUT_MS,
      responseUrlPrefix: e.SLACK_RESPONSE_URL_PREFIX,
      rateLimitPerMinute: e.BRIDGE_RATE_LIMIT_PER_MINUTE,
      signingKeyFile: e.BRIDGE_SIGNING_KEY_FILE,
      signingKey: e.BRIDGE_SIGNING_KEY,
    },
    temporalUiUrl: e.TEMPORAL_UI_URL.replace(/\/$/, ''),
    approvals: f.approvals,
    checklistRoles: f.checklistRoles,
    security: f.security,
    standards: f.standards,
    kubernetes: {
      kubeconfigPath: e.KUBECONFIG,
      inCluster: Boolean(e.KUBERNETES_SERVICE_HOST),
      namespace: f.targets.kubernetes.namespace,
      appLabelSelector: f.targets.kubernetes.appLabelSelector,
    },
    logLevel: e.LOG_LEVEL,
    targets: {
      http: f.targets.http,
      tls: f.targets.tls,
      diskPaths: f.targets.diskPaths,
      backup: f.targets.backup,
      cacheClear: f.targets.cacheClear,
      prometheus: f.targets.prometheus,
      databaseVolume: f.targets.databaseVolume,
      // By default monitoring is "alive" when our own metrics endpoint answers.
      monitoring: f.targets.monitoring ?? [
        { name: 'worker-metrics', url: `http://127.0.0.1:${e.METRICS_PORT}/metrics` },
      ],
    },
    cacheClearTokens,
    thresholds: f.thresholds,
    windows: f.windows,
    blackouts: f.blackouts,
    retention: f.retention,
    database: { ...f.database, backupDirectory: f.database.backupDirectory ?? f.targets.backup?.directory },
    alerts: f.alerts,
    imageUpdates: f.imageUpdates,
    registryCredentials,
    nodeJobs: f.nodeJobs,
    configFile: file,
  };
}

/** For process entry points: invalid configuration prints every bad field and exits with code 2. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}
