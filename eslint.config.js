// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Workflow code runs in Temporal's deterministic sandbox: no Node APIs, no I/O libraries.
const SANDBOX = [
  {
    group: ['node:*', 'fs', 'path', 'http', 'https', 'crypto', 'child_process', 'os'],
    message: 'Workflow code must not import Node APIs.',
  },
  {
    group: [
      'pg',
      '@kubernetes/*',
      '@slack/*',
      'pino',
      '@temporalio/client',
      '@temporalio/worker',
      '@temporalio/activity',
    ],
    message: 'Workflow code must not import I/O libraries.',
  },
];
// Workflows and the domain import only the domain, workflows/lib, the Temporal SDK and zod (README, Architecture).
const LAYERS = {
  group: ['**/activities/**', '**/src/**', '**/dev/**', '**/schedules/**', '**/test/**', '**/bench/**'],
  message: 'Workflows import only domain/, workflows/lib, the Temporal SDK and zod.',
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['bin/**/*.js', 'scripts/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [...SANDBOX, LAYERS] }] },
  },
  {
    // The one place workflows meet the activities: their type, for the proxies.
    files: ['workflows/lib/activity-profiles.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: SANDBOX }] },
  },
  {
    files: ['src/**/*.ts', 'dev/**/*.ts', 'activities/**/*.ts', 'schedules/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/test/**', '**/bench/**'], message: 'Only tests and benchmarks import test code.' }],
        },
      ],
    },
  },
);
