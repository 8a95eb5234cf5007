import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests bind real loopback ports and spawn real MCP servers; two cores are all we get.
    maxWorkers: 2,
  },
});
