import pg from 'pg';

/** Runs one statement on a connection of its own: CREATE and DROP DATABASE refuse to run in a transaction block. */
export async function runStatement(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
