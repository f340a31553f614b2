import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Real processes on a 2-core machine: files run one at a time so timing-sensitive election
    // tests are not starved by each other (unit files are fast either way).
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // The property tests are CPU-bound: on a loaded 2-core machine a file can take several
          // times its idle duration, which the 5 s default mistakes for a hang.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: [
            'test/integration/**/*.test.ts',
            'test/chaos/**/*.test.ts',
            'test/browser/**/*.test.ts',
          ],
          environment: 'node',
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // expect.poll waits for something another process does (a page, a replica): 1 s, the
          // default, is short on a loaded 2-core CI machine.
          expect: { poll: { timeout: 10_000 } },
        },
      },
      {
        // `npm run test:deploy` only (scripts/test-deploy.sh prepares Docker and the images).
        test: {
          name: 'deploy',
          include: ['test/deploy/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
