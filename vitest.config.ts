// Two groups: every test file runs in parallel first (unit tests, and the e2e files that push
// little traffic), then the SIPp load tests (2000 calls/s) and the idle-cost test run one file at
// a time, so other SIPp processes and servers do not compete with them for the two cores.
import { defineConfig } from 'vitest/config';

const LOAD = ['test/e2e/forward.test.ts', 'test/e2e/dispatcher.test.ts', 'test/e2e/start-under-load.test.ts', 'test/e2e/idle.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        test: {
          name: 'default',
          include: ['test/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', ...LOAD],
          testTimeout: 30_000,
          hookTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'load',
          include: LOAD,
          testTimeout: 150_000,
          hookTimeout: 30_000,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
