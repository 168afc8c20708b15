#!/usr/bin/env node
// The published entry point: run the TypeScript sources through tsx so there is no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const { exitIfStillRunning } = await import('../src/cli/exitGuard.ts');
process.exitCode = await main(process.argv.slice(2));
// Everything the command started is closed; a handle left open must not keep it alive.
exitIfStillRunning({ code: process.exitCode });
