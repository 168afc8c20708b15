import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import {
  decodeFrameMessage,
  encodeFrameMessage,
  readJpegSize,
  type FrameMessage,
} from '../../src/topology/frameCodec.ts';
import { FrameRejectedError, type FrameRejectReason } from '../../src/errors.ts';
import type { Frame } from '../../src/types.ts';

/** Left half red, right half blue, with a vertical green ramp: colour order and geometry both show. */
function splitFrame(width: number, height: number, seq = 7): Frame {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const left = x < width / 2;
      data[i] = left ? 220 : 20;
      data[i + 1] = Math.round((y / (height - 1)) * 100);
      data[i + 2] = left ? 20 : 220;
    }
  }
  return { cameraId: 'cam-1', seq, ptsMs: 1234.5, width, height, data };
}

function pixel(frame: Frame, x: number, y: number): [number, number, number] {
  const i = (y * frame.width + x) * 3;
  return [frame.data[i] ?? -1, frame.data[i + 1] ?? -1, frame.data[i + 2] ?? -1];
}

async function expectReject(
  message: FrameMessage,
  reason: FrameRejectReason,
  opts: { maxBytes?: number; maxPixels?: number } = {},
): Promise<FrameRejectedError> {
  let caught: unknown;
  try {
    await decodeFrameMessage(message, { width: 16, height: 16, ...opts });
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof FrameRejectedError, `expected FrameRejectedError(${reason}), got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  assert.equal(caught.retriable, false);
  return caught;
}

const jpegOf = async (frame: Frame): Promise<FrameMessage> => encodeFrameMessage(frame, 'jpeg', 90);

test('jpeg round trip: resized to the analysis size, colours and vertical order kept', async () => {
  const src = splitFrame(64, 48);
  const frame = await decodeFrameMessage(await jpegOf(src), { width: 32, height: 24 });
  assert.equal(frame.cameraId, 'cam-1');
  assert.equal(frame.seq, 7);
  assert.equal(frame.ptsMs, 1234.5);
  assert.equal(frame.width, 32);
  assert.equal(frame.height, 24);
  assert.equal(frame.data.length, 32 * 24 * 3);
  const [lr, , lb] = pixel(frame, 4, 12);
  const [rr, , rb] = pixel(frame, 28, 12);
  assert.ok(lr > 180 && lb < 70, `left should be red, got r=${lr} b=${lb}`);
  assert.ok(rb > 180 && rr < 70, `right should be blue, got r=${rr} b=${rb}`);
  // green ramps up from top to bottom
  assert.ok(pixel(frame, 4, 22)[1] > pixel(frame, 4, 1)[1] + 60);
});

test('rgb24 at the analysis size is copied exactly, not aliased to the message buffer', async () => {
  const src = splitFrame(16, 16);
  const msg = await encodeFrameMessage(src, 'rgb24');
  const frame = await decodeFrameMessage(msg, { width: 16, height: 16 });
  assert.deepEqual(Buffer.from(frame.data), Buffer.from(src.data));
  msg.value[0] = 0;
  assert.equal(frame.data[0], 220, 'decoded frame must not share memory with the message value');
});

test('rgb24 of another size is resized', async () => {
  const src = splitFrame(40, 20);
  const frame = await decodeFrameMessage(await encodeFrameMessage(src, 'rgb24'), { width: 20, height: 10 });
  assert.equal(frame.data.length, 20 * 10 * 3);
  assert.ok(pixel(frame, 2, 5)[0] > 180);
  assert.ok(pixel(frame, 17, 5)[2] > 180);
});

test('a greyscale JPEG comes out as three equal RGB channels', async () => {
  const grey = await sharp(Buffer.alloc(24 * 24, 90), { raw: { width: 24, height: 24, channels: 1 } })
    .toColourspace('b-w')
    .jpeg()
    .toBuffer();
  const meta = await sharp(grey).metadata();
  assert.equal(meta.channels, 1);
  const frame = await decodeFrameMessage(
    { key: 'g', value: grey, headers: { ts: '1', seq: '0', width: '24', height: '24', encoding: 'jpeg' } },
    { width: 8, height: 8 },
  );
  const [r, g, b] = pixel(frame, 3, 3);
  assert.equal(frame.data.length, 8 * 8 * 3);
  assert.ok(Math.abs(r - 90) < 6 && r === g && g === b, `got ${r},${g},${b}`);
});

test('readJpegSize reads baseline and progressive SOF markers past APP segments', async () => {
  for (const [w, h, progressive] of [[33, 17, false], [640, 480, true], [1, 1, false]] as const) {
    const jpg = await sharp({ create: { width: w, height: h, channels: 3, background: '#336699' } })
      .withMetadata({ exif: { IFD0: { Copyright: 'x'.repeat(200) } } })
      .jpeg({ progressive })
      .toBuffer();
    assert.deepEqual(readJpegSize(jpg), { width: w, height: h });
  }
  assert.equal(readJpegSize(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2])), undefined, 'SOS before SOF');
  assert.equal(readJpegSize(Buffer.from('not a jpeg at all')), undefined);
  assert.equal(readJpegSize(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00])), undefined, 'cut inside a segment');
});

/** A small valid JPEG whose SOF marker is rewritten to claim another size. */
async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const jpg = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).jpeg().toBuffer());
  for (let i = 2; i + 9 < jpg.length; ) {
    const marker = jpg[i + 1] ?? 0;
    if (marker >= 0xc0 && marker <= 0xc2) {
      jpg.writeUInt16BE(height, i + 5);
      jpg.writeUInt16BE(width, i + 7);
      return jpg;
    }
    i += 2 + jpg.readUInt16BE(i + 2);
  }
  throw new Error('no SOF in test JPEG');
}

const headers = (over: Record<string, string | undefined> = {}): Record<string, string> => {
  const base: Record<string, string | undefined> = { ts: '10', seq: '3', width: '8', height: '8', encoding: 'jpeg', ...over };
  return Object.fromEntries(Object.entries(base).filter((e): e is [string, string] => e[1] !== undefined));
};

test('a tiny JPEG claiming 30000x30000 is refused from its header, not decoded', async () => {
  const bomb = await jpegClaiming(30000, 30000);
  assert.ok(bomb.length < 1000);
  // Headers that tell the truth about the claim are refused on the headers alone...
  const a = await expectReject({ key: 'cam', value: bomb, headers: headers({ width: '30000', height: '30000' }) }, 'too-many-pixels');
  assert.equal(a.cameraId, 'cam');
  // ...and headers that lie small are caught by the SOF marker (sharp would say decode-failed).
  await expectReject({ key: 'cam', value: bomb, headers: headers() }, 'too-many-pixels');
  // The pixel limit is the caller's: a claim under it passes the header check and fails on size mismatch.
  await expectReject({ key: 'cam', value: await jpegClaiming(100, 100), headers: headers() }, 'dimension-mismatch', { maxPixels: 20_000 });
});

test('truncated JPEG, random bytes, empty and oversized values are refused', async () => {
  const good = (await jpegOf(splitFrame(64, 48))).value as Buffer;
  const h = headers({ width: '64', height: '48' });
  await expectReject({ key: 'cam', value: good.subarray(0, Math.floor(good.length / 2)), headers: h }, 'decode-failed');
  const random = Buffer.alloc(4000);
  for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + 13) % 251;
  await expectReject({ key: 'cam', value: random, headers: h }, 'bad-jpeg');
  // Random bytes behind a JPEG signature and a matching SOF still fail in the decoder.
  const sof = Buffer.from([0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x30, 0x00, 0x40, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  await expectReject({ key: 'cam', value: Buffer.concat([sof, random]), headers: h }, 'decode-failed');
  await expectReject({ key: 'cam', value: null, headers: h }, 'empty');
  await expectReject({ key: 'cam', value: Buffer.alloc(0), headers: h }, 'empty');
  await expectReject({ key: 'cam', value: good, headers: h }, 'too-large', { maxBytes: good.length - 1 });
  // exactly at the limit is fine
  const ok = await decodeFrameMessage({ key: 'cam', value: good, headers: h }, { width: 16, height: 16, maxBytes: good.length });
  assert.equal(ok.data.length, 16 * 16 * 3);
});

test('missing, repeated and garbage headers are refused with the header named', async () => {
  const value = (await jpegOf(splitFrame(8, 8))).value as Buffer;
  for (const name of ['ts', 'seq', 'width', 'height', 'encoding']) {
    const err = await expectReject({ key: 'cam', value, headers: headers({ [name]: undefined }) }, 'missing-header');
    assert.match(err.message, new RegExp(`'${name}'`));
  }
  await expectReject({ key: 'cam', value }, 'missing-header');
  for (const [name, bad] of [
    ['seq', '-1'],
    ['seq', '1.5'],
    ['seq', 'abc'],
    ['ts', ''],
    ['ts', '0x10'],
    ['width', '0'],
    ['height', '70000'],
    ['ts', '9'.repeat(100)],
  ] as const) {
    await expectReject({ key: 'cam', value, headers: headers({ [name]: bad }) }, 'bad-header');
  }
  await expectReject({ key: 'cam', value, headers: { ...headers(), seq: ['1', '2'] } }, 'bad-header');
  await expectReject({ key: 'cam', value, headers: headers({ encoding: 'png' }) }, 'bad-encoding');
  // Buffer-valued headers (as kafkajs delivers them) are read the same as strings.
  const buffers = Object.fromEntries(Object.entries(headers()).map(([k, v]) => [k, Buffer.from(v)]));
  const frame = await decodeFrameMessage({ key: Buffer.from('cam'), value, headers: buffers }, { width: 8, height: 8 });
  assert.equal(frame.seq, 3);
  assert.equal(frame.ptsMs, 10);
});

test('bad keys and wrong dimensions are refused', async () => {
  const value = (await jpegOf(splitFrame(8, 8))).value as Buffer;
  for (const key of [null, undefined, '', 'has space', 'x'.repeat(129), 'ünï']) {
    const err = await expectReject({ key, value, headers: headers() }, 'bad-key');
    assert.equal(err.cameraId, undefined);
  }
  await expectReject({ key: 'cam', value, headers: headers({ width: '16' }) }, 'dimension-mismatch');
  const raw = await encodeFrameMessage(splitFrame(8, 8), 'rgb24');
  await expectReject({ ...raw, headers: { ...raw.headers, height: '9' } }, 'bad-size');
  await expectReject({ ...raw, value: raw.value.subarray(1) }, 'bad-size');
  await expectReject({ ...raw, headers: { ...raw.headers, width: '10000', height: '10000' } }, 'too-many-pixels', { maxPixels: 1_000_000 });
});

test('encodeFrameMessage refuses a frame whose data does not match its size', async () => {
  const f = splitFrame(8, 8);
  await assert.rejects(encodeFrameMessage({ ...f, width: 9 }, 'jpeg'), RangeError);
});
