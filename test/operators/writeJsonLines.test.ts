import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Subject, from, lastValueFrom, toArray } from 'rxjs';
import { SinkError } from '../../src/errors.ts';
import { createOperatorStats } from '../../src/operators/operatorStats.ts';
import { writeJsonLines } from '../../src/operators/writeJsonLines.ts';

interface Slow {
  readonly stream: Writable;
  readonly chunks: string[];
  /** write() calls made while the stream had asked to wait for 'drain'. */
  readonly ignoredBackpressure: () => number;
}

/** A stream that takes one chunk per event-loop turn and asks to wait after every chunk. */
function slowStream(): Slow {
  const chunks: string[] = [];
  const stream = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      setImmediate(cb);
    },
  });
  let ignored = 0;
  const write = stream.write.bind(stream) as (chunk: string) => boolean;
  (stream as unknown as { write: (chunk: string) => boolean }).write = (chunk: string) => {
    if (stream.writableNeedDrain) ignored++;
    return write(chunk);
  };
  return { stream, chunks, ignoredBackpressure: () => ignored };
}

const records = Array.from({ length: 50 }, (_, i) => ({ id: `e${i}`, n: i, nested: { ok: i % 2 === 0 } }));

test('writes one JSON object per line, in order, waiting for drain instead of overfilling the stream', async () => {
  const { stream, chunks, ignoredBackpressure } = slowStream();
  const stats = createOperatorStats();
  const passed = await lastValueFrom(from(records).pipe(writeJsonLines(stream, { stats }), toArray()));
  await new Promise<void>((resolve) => stream.end(resolve));
  assert.deepEqual(passed, records, 'records pass through unchanged, in order');
  const lines = chunks.join('').split('\n');
  assert.equal(lines.pop(), '', 'every line ends with a newline');
  assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), records);
  assert.equal(ignoredBackpressure(), 0);
  assert.ok(stats.peakBuffered > 0, 'records waited for drain');
  assert.ok(stats.peakBuffered <= records.length);
});

test('records pass downstream only after the stream accepted them', async () => {
  const { stream } = slowStream();
  const input = new Subject<{ n: number }>();
  const seen: number[] = [];
  input.pipe(writeJsonLines(stream)).subscribe((r) => seen.push(r.n));
  input.next({ n: 1 });
  input.next({ n: 2 }); // waits: the stream asked for drain after the first
  assert.deepEqual(seen, [1]);
  await new Promise((resolve) => stream.once('drain', resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(seen, [1, 2]);
  input.complete();
});

test('more than maxPending records waiting is a SinkError, not unbounded memory', async () => {
  const stuck = new Writable({ highWaterMark: 1, write: () => undefined }); // never calls back: never drains
  await assert.rejects(
    lastValueFrom(from(records).pipe(writeJsonLines(stuck, { maxPending: 3 }))),
    (e: unknown) => e instanceof SinkError && e.sink === 'jsonl' && /more than 3/.test(e.message),
  );
});

test('a stream error fails the output with a SinkError carrying the cause', async () => {
  const broken = new Writable({ write: (_c, _e, cb) => cb(new Error('disk full')) });
  const input = new Subject<number>();
  const result = lastValueFrom(input.pipe(writeJsonLines(broken)));
  input.next(1);
  await assert.rejects(result, (e: unknown) => e instanceof SinkError && (e.cause as Error).message === 'disk full');
});

test('listeners are removed when the output completes or is unsubscribed', async () => {
  const { stream } = slowStream();
  const before = stream.listenerCount('error') + stream.listenerCount('close') + stream.listenerCount('drain');
  await lastValueFrom(from(records.slice(0, 5)).pipe(writeJsonLines(stream)));
  const sub = new Subject<number>().pipe(writeJsonLines(stream)).subscribe();
  sub.unsubscribe();
  assert.equal(stream.listenerCount('error') + stream.listenerCount('close') + stream.listenerCount('drain'), before);
});
