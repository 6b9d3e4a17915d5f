import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { redactUrl } from '../src/config/redact.js';
import { DEFAULT_THRESHOLDS } from '../domain/thresholds.js';
import { generateSigningKey } from '../src/signing.js';

const run = promisify(execFile);

function configFile(body: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'maint-cfg-')), 'config.json');
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
  return path;
}

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('has working defaults from the SPEC and the seed thresholds', () => {
    const c = loadConfig({});
    expect(c.temporal).toMatchObject({ address: 'localhost:7233', namespace: 'default', taskQueue: 'maintenance' });
    expect(c.thresholds).toEqual(DEFAULT_THRESHOLDS);
    expect(c.thresholds.diskCriticalPercent).toBe(85);
    expect(c.thresholds.backupMaxAgeHours).toBe(24);
    expect(c.thresholds.certWarnDays).toBe(30);
    expect(c.windows.map((w) => w.name)).toEqual(['daily', 'weekly', 'monthly', 'monthly-application', 'annual']);
  });

  it('accepts the shipped production example, with the seed retention rules and no file deleted by default', () => {
    const c = loadConfig({ MAINT_CONFIG: join(import.meta.dirname, '..', 'config', 'production.example.json') });
    expect(c.retention.map((r) => [r.name, r.directory, r.olderThanDays])).toEqual([
      ['app-logs', '/var/log/trixtech', 30],
      ['archived-logs', '/var/log/trixtech/archive', 90],
    ]);
    expect(loadConfig({}).retention).toEqual([]);
    expect(loadConfig({}).database.backupRetention).toEqual({ olderThanDays: 14, keepNewest: 7 });
  });

  it('names every bad field, from env and file, in one error', () => {
    const file = configFile({
      targets: { http: [{ name: 'api', url: 'ftp://x' }], diskPaths: ['relative/path'] },
      thresholds: { certWarnDays: -1 },
      windows: [{ name: 'w', every: 'week', dayOfWeek: 9, start: '25:00', durationMinutes: 60 }],
    });
    const found = problems({
      TEMPORAL_ADDRESS: 'no-port',
      METRICS_PORT: 'abc',
      DATABASE_URL: 'mysql://db/x',
      LOG_LEVEL: 'loud',
      MAINT_CONFIG: file,
    });
    const text = found.join('\n');
    for (const field of [
      'env TEMPORAL_ADDRESS',
      'env METRICS_PORT',
      'env DATABASE_URL',
      'env LOG_LEVEL',
      'targets.http[0].url',
      'targets.diskPaths[0]',
      'thresholds.certWarnDays',
      'windows[0].dayOfWeek',
      'windows[0].start',
    ]) {
      expect(text).toContain(field);
    }
  });

  it("takes the database volume's source and refuses a bad one naming the field", () => {
    const prometheus = { name: 'prometheus', url: 'http://prometheus:9090' };
    const load = (targets: unknown) => loadConfig({ MAINT_CONFIG: configFile({ targets }) });
    expect(load({}).targets.databaseVolume).toBeUndefined();
    expect(
      load({
        prometheus,
        databaseVolume: { source: 'kubelet-volume-stats', namespace: 'db', claim: 'data-postgres-0' },
      }).targets.databaseVolume,
    ).toEqual({ source: 'kubelet-volume-stats', namespace: 'db', claim: 'data-postgres-0' });
    expect(load({ databaseVolume: { source: 'data-directory' } }).targets.databaseVolume).toEqual({
      source: 'data-directory',
    });
    const bad = (targets: unknown) => problems({ MAINT_CONFIG: configFile({ targets }) }).join('\n');
    expect(
      bad({ databaseVolume: { source: 'kubelet-volume-stats', namespace: 'db', claim: 'data-postgres-0' } }),
    ).toMatch(
      /targets\.databaseVolume\.source: the kubelet-volume-stats and node-exporter sources are read through Prometheus: set targets\.prometheus/,
    );
    expect(bad({ databaseVolume: { source: 'df' } })).toMatch(
      /targets\.databaseVolume\.source: expected source "kubelet-volume-stats", "node-exporter" or "data-directory"/,
    );
    expect(
      bad({ prometheus, databaseVolume: { source: 'kubelet-volume-stats', namespace: 'DB', claim: 'x' } }),
    ).toMatch(/targets\.databaseVolume\.namespace: /);
    expect(
      bad({
        prometheus,
        databaseVolume: { source: 'node-exporter', instance: 'db-1"} or vector(1)', mountpoint: '/data' },
      }),
    ).toMatch(/targets\.databaseVolume\.instance: expected an instance label/);
    expect(
      bad({ prometheus, databaseVolume: { source: 'node-exporter', instance: 'db-1:9100', mountpoint: 'data' } }),
    ).toMatch(/targets\.databaseVolume\.mountpoint: expected an absolute path/);
  });

  it('rejects unknown keys and inconsistent thresholds', () => {
    expect(problems({ MAINT_CONFIG: configFile({ targets: { htpp: [] } }) }).join()).toMatch(/targets.*htpp/);
    const text = problems({
      MAINT_CONFIG: configFile({ thresholds: { diskWarnPercent: 95, diskCriticalPercent: 85 } }),
    }).join();
    expect(text).toContain('thresholds.diskWarnPercent');
    expect(text).toMatch(/diskWarnPercent \(95\) must not exceed diskCriticalPercent \(85\)/);
  });

  it('refuses approval keys that are not ssh-ed25519, or that one key is listed for two signers', () => {
    const alice = generateSigningKey('alice').publicLine;
    const rsa = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 someone';
    const found = problems({
      MAINT_CONFIG: configFile({
        approvals: { operatorKeys: { alice: [alice, rsa], bob: [alice] }, bridgeKeys: ['not a key'] },
      }),
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/approvals\.operatorKeys\.alice\[1\]: not an OpenSSH public key/),
        expect.stringMatching(/approvals\.bridgeKeys\[0\]: not an OpenSSH public key/),
        expect.stringMatching(/approvals\.operatorKeys\.bob\[0\]: key SHA256:\S+ is already listed for alice/),
      ]),
    );
    const ok = loadConfig({
      MAINT_CONFIG: configFile({
        approvals: { operatorKeys: { alice: [alice] }, bridgeKeys: [generateSigningKey('bridge').publicLine] },
      }),
    });
    expect(ok.approvals.operatorKeys.alice).toEqual([alice]);
  });

  it("node jobs: the seed's scripts by default; a floating image or a multi-line command is refused by field", () => {
    const defaults = loadConfig({}).nodeJobs;
    expect(defaults.image).toBe('debian:12.8-slim');
    expect(defaults.systemUpdate).toContain('apt-get update');
    expect(defaults.diskCleanup).toContain('crictl rmi --prune');
    const file = configFile({ nodeJobs: { image: 'debian:latest', diskCleanup: ['apt-get clean\nreboot'] } });
    const found = problems({ MAINT_CONFIG: file }).map((p) => p.replace(`config file ${file} `, ''));
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/nodeJobs\.image: expected a pinned image .*never :latest/),
        expect.stringMatching(/nodeJobs\.diskCleanup\[0\]: one command per entry/),
      ]),
    );
    expect(problems({ MAINT_CONFIG: configFile({ nodeJobs: { image: 'debian' } }) }).join()).toContain(
      'nodeJobs.image',
    );
    expect(
      loadConfig({ MAINT_CONFIG: configFile({ nodeJobs: { image: 'debian@sha256:' + 'a'.repeat(64) } }) }).nodeJobs
        .image,
    ).toMatch(/@sha256:/);
  });

  it('takes window silences as Alertmanager matchers, refusing bad ones by field, and one that would silence everything', () => {
    const refused = (alerts: object) => {
      const file = configFile({ alerts });
      return problems({ MAINT_CONFIG: file }).map((p) => p.replace(`config file ${file} `, ''));
    };
    const url = 'http://alertmanager:9093';
    const ok = loadConfig({
      MAINT_CONFIG: configFile({
        alerts: {
          alertmanagerUrl: url,
          silenceDuringWindows: {
            matchers: [{ name: 'alertname', value: 'KubeNode(NotReady|Unreachable)', isRegex: true }],
          },
        },
      }),
    });
    expect(ok.alerts.silenceDuringWindows).toEqual({
      matchers: [{ name: 'alertname', value: 'KubeNode(NotReady|Unreachable)', isRegex: true, isEqual: true }],
      comment: 'maintenance window',
      createdBy: 'trixtech-maintenance',
    });
    const silence = 'alerts.silenceDuringWindows';
    expect(
      refused({
        alertmanagerUrl: url,
        silenceDuringWindows: {
          matchers: [
            { name: 'alert-name', value: 'x' },
            { name: 'alertname', value: '(unclosed', isRegex: true },
            { name: 'severity', value: 'page', isRegexp: true },
          ],
          comment: ' ',
        },
      }),
    ).toEqual([
      `${silence}.matchers[0].name: expected a label name like alertname`,
      `${silence}.matchers[1].value: not a valid regular expression`,
      `${silence}.matchers[2]: Unrecognized key: "isRegexp"`,
      `${silence}.comment: Too small: expected string to have >=1 characters`,
    ]);
    expect(
      refused({
        alertmanagerUrl: url,
        silenceDuringWindows: {
          matchers: [
            { name: 'alertname', value: '.*', isRegex: true },
            { name: 'team', value: 'db', isEqual: false },
          ],
        },
      }),
    ).toEqual([
      `${silence}.matchers: at least one matcher must not match the empty string (this would silence every alert)`,
    ]);
    expect(refused({ alertmanagerUrl: url, silenceDuringWindows: { matchers: [] } })).toEqual([
      `${silence}.matchers: Too small: expected array to have >=1 items`,
    ]);
    expect(refused({ silenceDuringWindows: { matchers: [{ name: 'alertname', value: 'NodeDown' }] } })).toEqual([
      `${silence}: silenceDuringWindows needs alertmanagerUrl (the Alertmanager to create the silences in)`,
    ]);
  });

  it('reports an unreadable or malformed file by path', () => {
    expect(problems({ MAINT_CONFIG: '/nonexistent/maint.json' }).join()).toContain('/nonexistent/maint.json');
    expect(problems({ MAINT_CONFIG: configFile('{ not json') }).join()).toMatch(/JSON/);
  });

  it('refuses credentials inside configured URLs, pointing at the environment, without repeating them', () => {
    const file = configFile({
      targets: {
        http: [{ name: 'api', url: 'https://api.example/health?token=hunter2' }],
        monitoring: [{ name: 'prom', url: 'http://admin:hunter2@prom:9090/metrics' }],
        cacheClear: [{ name: 'backend', url: 'http://backend/admin/cache/clear?api_key=hunter2' }],
      },
    });
    const found = problems({ MAINT_CONFIG: file, SLACK_WEBHOOK_URL: 'https://u:hunter2@hooks.slack.com/services/x' });
    expect(found).toEqual([
      expect.stringMatching(/^env SLACK_WEBHOOK_URL: credentials in a URL \(user:password@\) are refused/),
      expect.stringMatching(/targets\.http\[0\]\.url: credentials in a URL \(\?token=\) are refused: .*environment/),
      expect.stringMatching(/targets\.monitoring\[0\]\.url: credentials in a URL \(user:password@\)/),
      expect.stringMatching(/targets\.cacheClear\[0\]\.url: credentials in a URL \(\?api_key=\).*tokenEnv/),
    ]);
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('redacts passwords and token parameters from URLs', () => {
    expect(redactUrl('https://x.example/a?token=abc&page=2')).toBe('https://x.example/a?token=***&page=2');
    expect(redactUrl('postgresql://admin:hunter2@db:5432/trixtech')).toBe('postgresql://admin:***@db:5432/trixtech');
  });

  it('the worker exits non-zero naming every bad field, before connecting anywhere', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      env: { ...process.env, TEMPORAL_ADDRESS: 'nope', SLACK_WEBHOOK_URL: 'not a url', MAINT_CONFIG: '' },
      timeout: 30_000,
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr).toContain('env TEMPORAL_ADDRESS');
    expect((err as { stderr: string }).stderr).toContain('env SLACK_WEBHOOK_URL');
  });

  it('the worker takes --preload-kubernetes only and refuses any other argument', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', 'src/worker.ts', '--preload-kubernetes', '--prelaod'], {
      timeout: 30_000,
    }).catch((e: { code: number; stderr: string }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(/^worker failed: Unknown option '--prelaod'/);
  });
});
