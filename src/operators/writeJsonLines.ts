import { Observable, type OperatorFunction } from 'rxjs';
import { SinkError } from '../errors.ts';
import type { ActionEvent } from '../types.ts';
import { checkInteger } from './checkOptions.ts';
import { recordLevels, type OperatorStats } from './operatorStats.ts';

/** Options of {@link writeJsonLines}. */
export interface WriteJsonLinesOptions {
  /** Most records held while the stream asks to wait for 'drain'; beyond it the output errors. Default 1024. */
  readonly maxPending?: number;
  /** Updated live: `buffered` = records waiting for 'drain'. */
  readonly stats?: OperatorStats;
}

/**
 * Writes each record as one JSON line to a writable stream (file, stdout, socket) and passes
 * it on once the stream has accepted it.
 *
 * Why: JSON Lines is the simplest sink a shell or a log shipper can follow, and a slow disk or
 * pipe must not make memory grow: when `write` returns false, later records wait (at most
 * `maxPending`, else a {@link SinkError} fails the output rather than dropping events) until
 * the stream emits 'drain'. Records are passed downstream in order, after their write. On
 * completion of the input, waiting records are written first. A stream 'error', or a 'close'
 * while records wait, errors the output with a SinkError. The stream is not ended here: its
 * owner (stdout, a file the topology opened) ends it.
 *
 * @example
 * events$.pipe(writeJsonLines(process.stdout)).subscribe()
 * @param stream - where the lines go
 * @param options - pending limit, stats
 * @returns an operator passing each record through after writing it
 */
export function writeJsonLines<T = ActionEvent>(
  stream: NodeJS.WritableStream,
  options: WriteJsonLinesOptions = {},
): OperatorFunction<T, T> {
  const maxPending = checkInteger('writeJsonLines.maxPending', options.maxPending ?? 1024, 0);
  const { stats } = options;

  return (source) =>
    new Observable<T>((subscriber) => {
      const pending: T[] = [];
      let waitingForDrain = false;
      let sourceDone = false;

      const fail = (message: string, cause?: unknown): void => {
        pending.length = 0;
        subscriber.error(new SinkError(message, 'jsonl', { cause }));
      };

      const write = (record: T): void => {
        let line: string;
        try {
          line = `${JSON.stringify(record)}\n`;
        } catch (err) {
          fail('writeJsonLines: record cannot be written as JSON', err);
          return;
        }
        const accepted = stream.write(line);
        if (stats) stats.emitted++;
        subscriber.next(record);
        if (!accepted && !subscriber.closed) {
          waitingForDrain = true;
          stream.once('drain', onDrain);
        }
      };

      const onDrain = (): void => {
        waitingForDrain = false;
        while (pending.length > 0 && !waitingForDrain && !subscriber.closed) write(pending.shift() as T);
        recordLevels(stats, pending.length);
        if (sourceDone && pending.length === 0 && !waitingForDrain && !subscriber.closed) subscriber.complete();
      };

      const onError = (err: unknown): void => fail('writeJsonLines: stream failed', err);
      const onClose = (): void => {
        if (waitingForDrain && !subscriber.closed) fail('writeJsonLines: stream closed while records were waiting');
      };
      stream.on('error', onError);
      stream.on('close', onClose);

      const subscription = source.subscribe({
        next: (record) => {
          if (stats) stats.received++;
          if (!waitingForDrain) {
            write(record);
            return;
          }
          pending.push(record);
          recordLevels(stats, pending.length);
          if (pending.length > maxPending) fail(`writeJsonLines: more than ${maxPending} records waiting for the stream to drain`);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          // Records the stream accepted are its job now; only records still here must wait.
          if (pending.length === 0) subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        stream.removeListener('drain', onDrain);
        stream.removeListener('error', onError);
        stream.removeListener('close', onClose);
        pending.length = 0;
        recordLevels(stats, 0);
      };
    });
}
