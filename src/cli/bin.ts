#!/usr/bin/env node
import { main } from './main.js';

// Exit explicitly: after `start` returns, nothing the daemon left behind may keep the process alive.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`mcpwatch: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
