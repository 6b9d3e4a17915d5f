import pg from 'pg';

/**
 * A demo booking database for `npm run up` when no DATABASE_URL is configured: the tables the
 * seeds maintain (`bookings`, `user_sessions`, `password_reset_tokens`) with three years of rows,
 * some sessions and reset tokens expired, so every maintenance step has real work to find.
 */
/** Sessions and reset tokens share one shape: a hashed token that expires (what cleanup deletes). */
const expiringTokenTable = (table: string) => `CREATE TABLE IF NOT EXISTS ${table} (
  id         bigserial PRIMARY KEY,
  user_id    bigint NOT NULL,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ${table}_expires_at_idx ON ${table} (expires_at);`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bookings (
  id          bigserial PRIMARY KEY,
  user_id     bigint NOT NULL,
  resource_id bigint NOT NULL,
  status      text NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'completed')),
  starts_at   timestamptz NOT NULL,
  ends_at     timestamptz NOT NULL,
  amount_cents integer NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS bookings_created_at_idx ON bookings (created_at);
CREATE INDEX IF NOT EXISTS bookings_user_id_idx ON bookings (user_id);
${expiringTokenTable('user_sessions')}
${expiringTokenTable('password_reset_tokens')}
`;

/** Tokens created `age` ago expiring across `spread` centred on now: about half are expired. */
function expiringTokenRows(table: string, size: keyof DemoSize, prefix: string, age: string, spread: string) {
  return {
    table,
    size,
    sql: `INSERT INTO ${table} (user_id, token_hash, created_at, expires_at)
          SELECT 1 + (random() * 4999)::int, md5('${prefix}' || g), now() - interval '${age}',
                 now() - interval '${spread}' / 2 + (random() * interval '${spread}')
            FROM generate_series(1, $1::int) g`,
  };
}

/** Row generators; `$1` is the row count. Timestamps spread so archive and cleanup have work. */
const ROW_GENERATORS: { table: string; size: keyof DemoSize; sql: string }[] = [
  {
    table: 'bookings',
    size: 'bookings',
    sql: `INSERT INTO bookings (user_id, resource_id, status, starts_at, ends_at, amount_cents, created_at, updated_at)
          SELECT 1 + (random() * 4999)::int, 1 + (random() * 199)::int,
                 (ARRAY['pending','confirmed','cancelled','completed'])[1 + (random() * 3)::int],
                 c + interval '3 days', c + interval '3 days 2 hours', 1500 + (random() * 20000)::int, c, c
            FROM (SELECT now() - (random() * interval '1095 days') AS c FROM generate_series(1, $1::int)) s`,
  },
  expiringTokenRows('user_sessions', 'sessions', 'session', '2 days', '3 days'),
  expiringTokenRows('password_reset_tokens', 'resetTokens', 'reset', '1 day', '1 day'),
];

export interface DemoSize {
  bookings: number;
  sessions: number;
  resetTokens: number;
}

/** Creates `database` on the server of `adminUrl` if absent; returns whether it was created. */
export async function ensureDatabase(adminUrl: string, database: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (rowCount) return false;
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
    return true;
  } finally {
    await admin.end();
  }
}

/**
 * The weekly reviews' slowest queries read pg_stat_statements; the extension is created only where
 * the server preloads its library (scripts/bootstrap.sh does so for the local cluster), so a server
 * without it still gets the reviews' "not loaded" finding rather than a failed set-up.
 */
async function installStatementStatistics(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ libraries: string }>('SELECT current_setting($1) AS libraries', [
    'shared_preload_libraries',
  ]);
  if (rows[0]!.libraries.split(',').some((l) => l.trim() === 'pg_stat_statements'))
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
}

/** Creates the seed tables and, when `bookings` is empty, fills them with realistic rows. */
export async function seedDemoBookings(
  url: string,
  size: DemoSize = { bookings: 20_000, sessions: 2_000, resetTokens: 200 },
): Promise<{ seeded: boolean }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(SCHEMA);
    await installStatementStatistics(client);
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM bookings');
    if (rows[0]!.n > 0) return { seeded: false };
    await client.query('BEGIN');
    await client.query('SELECT setseed(0.42)');
    for (const g of ROW_GENERATORS) await client.query(g.sql, [size[g.size]]);
    await client.query('COMMIT');
    await client.query('ANALYZE');
    return { seeded: true };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await client.end();
  }
}
