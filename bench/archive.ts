// `npm run bench -- archive [--rows 1000000] [--batch 5000] [--target 40] [--streams 2] [--rounds 3]`: the seed's two-statement
// archive against our batched one, on identical copies of one generated bookings table, in the same run.
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';
import { moveBookingsInBatches } from '../activities/postgres/archive.js';
import { runStatement } from '../dev/postgres-admin.js';
import { DatabaseMaintenanceSchema } from '../src/config/schema.js';

const ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
// What production runs with unless told otherwise.
const DEFAULTS = DatabaseMaintenanceSchema.parse({});
const CUTOFF_DAYS = DEFAULTS.archiveAfterDays;

function arg(args: string[], name: string, fallback: number, zeroAllowed = false): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < (zeroAllowed ? 0 : 1))
    throw new Error(`--${name} expects a ${zeroAllowed ? 'non-negative' : 'positive'} whole number`);
  return v;
}

const urlFor = (db: string) => Object.assign(new URL(ADMIN_URL), { pathname: `/${db}` }).toString();

const admin = (sql: string) => runStatement(ADMIN_URL, sql);

/** Bookings over four years in id order (as a live system creates them), a few days of jitter on created_at. */
async function buildBookings(db: string, rows: number): Promise<void> {
  const c = new pg.Client({ connectionString: urlFor(db) });
  await c.connect();
  await c.query(`
    CREATE TABLE bookings (
      id bigserial PRIMARY KEY, user_id bigint NOT NULL, resource_id bigint NOT NULL, status text NOT NULL,
      starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, created_at timestamptz NOT NULL, notes text);
    INSERT INTO bookings (user_id, resource_id, status, starts_at, ends_at, created_at, notes)
      SELECT (random() * 50000)::bigint, (random() * 500)::bigint, (ARRAY['confirmed','cancelled','completed'])[1 + (i % 3)],
             ts + interval '3 days', ts + interval '3 days 2 hours', ts, CASE WHEN i % 4 = 0 THEN repeat('note ', 8) END
        FROM generate_series(1, ${rows}) AS i,
             LATERAL (SELECT now() - interval '4 years' * (1 - i::float8 / ${rows}) + interval '1 day' * (random() * 6 - 3) AS ts) t;
    CREATE INDEX bookings_user_idx ON bookings (user_id);
    CREATE INDEX bookings_created_at_idx ON bookings (created_at);`);
  await c.query('VACUUM ANALYZE bookings');
  await c.end();
}

async function withClient<T>(db: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: urlFor(db) });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Rows lost (in neither table) and duplicated (in both, or twice in the archive), against the original ids. */
async function integrity(db: string, total: number): Promise<{ lost: number; duplicated: number }> {
  return withClient(db, async (c) => {
    const {
      rows: [r],
    } = await c.query<{ distinct_ids: number; all_rows: number }>(
      `SELECT count(DISTINCT id)::int AS distinct_ids, count(*)::int AS all_rows
         FROM (SELECT id FROM bookings UNION ALL SELECT id FROM bookings_archive) u`,
    );
    return { lost: total - r!.distinct_ids, duplicated: r!.all_rows - r!.distinct_ids };
  });
}

/** The seed's script, statement for statement (its CURRENT_DATE cutoff replaced by the same fixed one). */
async function seedArchive(db: string, cutoff: Date): Promise<number> {
  return withClient(db, async (c) => {
    await c.query('CREATE TABLE IF NOT EXISTS bookings_archive (LIKE bookings INCLUDING ALL)');
    const t0 = performance.now();
    await c.query('INSERT INTO bookings_archive SELECT * FROM bookings WHERE created_at < $1', [cutoff]);
    await c.query('DELETE FROM bookings WHERE created_at < $1', [cutoff]);
    return performance.now() - t0;
  });
}

async function ourArchive(
  db: string,
  cutoff: Date,
  batchSize: number,
  batchTargetMs: number | undefined,
  streams: number,
) {
  // The worker's pool (src/clients.ts) holds 4: with fewer streams one is free to close the last slice.
  const pool = new pg.Pool({ connectionString: urlFor(db), max: Math.max(streams, 4) });
  try {
    const t0 = performance.now();
    const result = await moveBookingsInBatches(
      pool,
      {
        cutoff: cutoff.toISOString(),
        batchSize,
        batchTargetMs,
        streams,
        timeouts: { lockTimeoutMs: DEFAULTS.lockTimeoutMs, statementTimeoutMs: DEFAULTS.statementTimeoutMs },
      },
      undefined,
    );
    return { ms: performance.now() - t0, result };
  } finally {
    await pool.end();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function main(args: string[]): Promise<void> {
  const rows = arg(args, 'rows', 1_000_000);
  const batchSize = arg(args, 'batch', DEFAULTS.batchSize);
  // --target 0: fixed-size batches.
  const targetArg = arg(args, 'target', DEFAULTS.archiveBatchTargetMs, true);
  const batchTargetMs = targetArg === 0 ? undefined : targetArg;
  const streams = arg(args, 'streams', DEFAULTS.archiveStreams);
  // This machine is shared: alternate the two on fresh identical copies and compare medians.
  const rounds = arg(args, 'rounds', 3);
  const tag = randomBytes(3).toString('hex');
  const template = `bench_archive_${tag}`;
  const cutoff = new Date(Date.now() - CUTOFF_DAYS * 86_400_000);
  const copies: string[] = [];
  try {
    console.log(`building ${rows} bookings...`);
    await admin(`CREATE DATABASE ${template}`);
    await buildBookings(template, rows);
    const old = await withClient(
      template,
      async (c) =>
        (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM bookings WHERE created_at < $1', [cutoff]))
          .rows[0]!.n,
    );
    console.log(
      `${old} of ${rows} bookings older than ${cutoff.toISOString()} (${CUTOFF_DAYS} days); ${streams} stream(s), batches of at most ${batchSize} rows${batchTargetMs ? ` sized for ~${batchTargetMs} ms` : ''}, ${rounds} round(s)`,
    );

    const ratios: number[] = [];
    const seedRates: number[] = [];
    const ourRates: number[] = [];
    const moveRates: number[] = [];
    const maxBatchMs: number[] = [];
    const p99BatchMs: number[] = [];
    let lost = 0;
    let duplicated = 0;
    for (let round = 1; round <= rounds; round++) {
      const [seedDb, oursDb] = [`${template}_seed${round}`, `${template}_ours${round}`];
      copies.push(seedDb, oursDb);
      await admin(`CREATE DATABASE ${seedDb} TEMPLATE ${template}`);
      await admin(`CREATE DATABASE ${oursDb} TEMPLATE ${template}`);
      const runSeed = async () => {
        await admin('CHECKPOINT');
        return seedArchive(seedDb, cutoff);
      };
      const runOurs = async () => {
        await admin('CHECKPOINT');
        return ourArchive(oursDb, cutoff, batchSize, batchTargetMs, streams);
      };
      // The machine is shared: the load average says how much the figures of this round can be trusted.
      const loadBefore = loadavg()[0]!;
      let seedMs: number;
      let ours: Awaited<ReturnType<typeof ourArchive>>;
      if (round % 2 === 1) {
        seedMs = await runSeed();
        ours = await runOurs();
      } else {
        ours = await runOurs();
        seedMs = await runSeed();
      }
      const r = ours.result;
      seedRates.push(old / (seedMs / 1000));
      ourRates.push(r.rowsMoved / (ours.ms / 1000));
      ratios.push(ourRates.at(-1)! / seedRates.at(-1)!);
      moveRates.push(r.rowsMoved / (r.phaseMs.move / 1000));
      maxBatchMs.push(r.batchMs.max);
      p99BatchMs.push(r.batchMs.p99);
      const check = await integrity(oursDb, rows);
      lost += check.lost;
      duplicated += check.duplicated;
      console.log(
        `round ${round} (load ${loadBefore.toFixed(1)} -> ${loadavg()[0]!.toFixed(1)}): seed ${Math.round(seedMs)} ms (${Math.round(seedRates.at(-1)!)} rows/s) | ours ${Math.round(ours.ms)} ms (${Math.round(ourRates.at(-1)!)} rows/s), ratio ${ratios.at(-1)!.toFixed(2)}: ` +
          `${r.streams.length} stream(s) (${r.streams.map((s) => s.rowsMoved).join(' + ')} rows), census ${r.phaseMs.census} ms, ${r.batches} batches ${r.phaseMs.move} ms, verify ${r.phaseMs.verify} ms; ` +
          `rows/batch ${r.batchRows.min}-${r.batchRows.max}, batch ms median ${r.batchMs.median} p99 ${r.batchMs.p99} max ${r.batchMs.max}; conserved=${r.conserved} lost=${check.lost} duplicated=${check.duplicated}`,
      );
      await admin(`DROP DATABASE ${seedDb} WITH (FORCE)`);
      await admin(`DROP DATABASE ${oursDb} WITH (FORCE)`);
    }
    console.log(
      `median throughput: seed ${Math.round(median(seedRates))} rows/s, ours ${Math.round(median(ourRates))} rows/s end to end ` +
        `(batches alone ${Math.round(median(moveRates))} rows/s, ratio ${(median(moveRates) / median(seedRates)).toFixed(2)}); ` +
        `median ratio ${median(ratios).toFixed(2)}`,
    );
    // ratio is end to end (our census and verification included, the seed has neither), each round's
    // against the seed in the same round; ratio and batch figures are the worst round's.
    console.log(
      `archive: ratio=${Math.min(...ratios).toFixed(2)} max_batch_ms=${Math.round(Math.max(...maxBatchMs))} p99_batch_ms=${Math.round(Math.max(...p99BatchMs))} lost=${lost} duplicated=${duplicated}`,
    );
  } finally {
    for (const db of [...copies, template])
      await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
  }
}
