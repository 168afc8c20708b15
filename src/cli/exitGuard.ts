/**
 * The last line of defence after a command has finished: every source, sink, worker and
 * server it started is closed by then, so the event loop should drain and the process exit.
 * Once (CI, after a broker outage) a drained analyzer logged `done` and then sat until the
 * harness SIGKILLed it 60 s later: a handle some library kept open. In Kubernetes that is a
 * pod stuck in Terminating for the whole grace period and an exit by SIGKILL. So: wait a
 * grace period, then say what still holds the loop (to find the leak) and exit with the
 * command's own code (its work is done and flushed; nothing is lost by leaving).
 *
 * @example
 * process.exitCode = await main(argv);
 * exitIfStillRunning({ code: process.exitCode });
 */
import { createLogger } from '../logger.ts';

export interface ExitGuardOptions {
  /** The command's exit code, used if the guard has to exit. */
  readonly code: number;
  /** How long a finished process may take to drain on its own (default 10 s). */
  readonly graceMs?: number;
}

/** Default grace: longer than any close path takes when nothing leaks (kafkajs disconnects in < 1 s). */
export const EXIT_GRACE_MS = 10_000;

/**
 * Arms an unreferenced timer: it never keeps the process alive itself, so a process that
 * drains exits as before and the timer never fires. Tested in child processes
 * (test/cli/exitGuard.test.ts), so it calls `process.exit` itself.
 */
export function exitIfStillRunning(opts: ExitGuardOptions): void {
  const graceMs = opts.graceMs ?? EXIT_GRACE_MS;
  const timer = setTimeout(() => {
    // What keeps the loop alive, by type (e.g. TCPSocketWrap, Timeout): the lead for the leak.
    const held = process.getActiveResourcesInfo();
    const counts = new Map<string, number>();
    for (const r of held) counts.set(r, (counts.get(r) ?? 0) + 1);
    createLogger().warn(`still running ${(graceMs / 1000).toFixed(1)} s after finishing; exiting with code ${opts.code}`, {
      heldBy: Object.fromEntries(counts),
    });
    process.exit(opts.code);
  }, graceMs);
  timer.unref();
}
