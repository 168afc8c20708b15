import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawFrameParser } from '../../../src/topology/sources/rawFrameParser.ts';
import { ShapeError } from '../../../src/errors.ts';

/** A byte stream of `count` frames where every byte depends on (frame, offset). */
function stream(frameBytes: number, count: number): Uint8Array {
  const bytes = new Uint8Array(frameBytes * count);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = (i * 31 + Math.floor(i / frameBytes) * 7) & 0xff;
  return bytes;
}

/** Deterministic chunk sizes in [1, max]. */
function chunkSizes(seed: number, max: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return 1 + (s % max);
  };
}

test('arbitrary chunk boundaries yield exactly the frames of the stream, in order', () => {
  const frameBytes = 7 * 5 * 3;
  const count = 23;
  const bytes = stream(frameBytes, count);
  for (const [seed, max] of [[1, 3], [2, 100], [3, frameBytes], [4, 3 * frameBytes + 1], [5, 1]] as const) {
    const parser = new RawFrameParser(frameBytes);
    const frames: Uint8Array[] = [];
    const next = chunkSizes(seed, max);
    for (let offset = 0; offset < bytes.length; ) {
      const size = Math.min(next(), bytes.length - offset);
      parser.push(bytes.subarray(offset, offset + size), (frame) => frames.push(frame));
      offset += size;
    }
    assert.equal(frames.length, count, `seed ${seed}`);
    frames.forEach((frame, i) => {
      assert.equal(frame.length, frameBytes);
      assert.deepEqual(frame, bytes.subarray(i * frameBytes, (i + 1) * frameBytes), `frame ${i}, seed ${seed}`);
    });
    assert.equal(parser.pendingBytes, 0);
  }
});

test('a partial frame is held until completed, and reset drops it', () => {
  const parser = new RawFrameParser(10);
  const frames: Uint8Array[] = [];
  parser.push(new Uint8Array(14).fill(1), (f) => frames.push(f));
  assert.equal(frames.length, 1);
  assert.equal(parser.pendingBytes, 4);
  assert.equal(parser.reset(), 4);
  parser.push(new Uint8Array(10).fill(2), (f) => frames.push(f));
  assert.equal(frames.length, 2);
  assert.deepEqual(frames[1], new Uint8Array(10).fill(2), 'bytes of the dropped partial frame must not leak into the next');
});

test('frames own their memory: reusing the chunk buffer does not change them', () => {
  const parser = new RawFrameParser(4);
  const frames: Uint8Array[] = [];
  const chunk = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  parser.push(chunk, (f) => frames.push(f));
  chunk.fill(0);
  assert.deepEqual(frames.map((f) => [...f]), [[1, 2, 3, 4], [5, 6, 7, 8]]);
  assert.equal(frames[0]?.buffer.byteLength, 4, 'each frame has an exactly sized buffer');
});

test('a non-positive frame size is a shape error', () => {
  assert.throws(() => new RawFrameParser(0), ShapeError);
  assert.throws(() => new RawFrameParser(2.5), ShapeError);
});

test('onFrame returning false stops right after that frame; feeding the rest later loses nothing', () => {
  const frameBytes = 12;
  const bytes = stream(frameBytes, 5);
  const parser = new RawFrameParser(frameBytes);
  const frames: Uint8Array[] = [];
  // One chunk holding half a frame, then frames 0..3 and a half: stop after the 2nd frame.
  const first = bytes.subarray(0, 6);
  assert.equal(parser.push(first, (f) => void frames.push(f)), 6);
  const chunk = bytes.subarray(6, 4 * frameBytes + 6);
  const used = parser.push(chunk, (f) => frames.push(f) < 2);
  assert.equal(used, 2 * frameBytes - 6, 'consumed up to the end of the second frame');
  assert.equal(frames.length, 2);
  assert.equal(parser.pendingBytes, 0, 'nothing half-read is kept when it stops');
  // The caller gives the unread bytes back (the stream's unshift) and later the rest.
  assert.equal(parser.push(chunk.subarray(used), (f) => void frames.push(f)), chunk.length - used);
  parser.push(bytes.subarray(4 * frameBytes + 6), (f) => void frames.push(f));
  assert.equal(frames.length, 5);
  frames.forEach((f, i) => assert.deepEqual(f, bytes.subarray(i * frameBytes, (i + 1) * frameBytes)));
});
