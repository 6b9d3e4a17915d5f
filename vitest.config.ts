import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Workflow tests run real workers against a real dev server and PostgreSQL.
    testTimeout: 90_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
