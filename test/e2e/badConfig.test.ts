/**
 * Bad configuration through the real CLI: `clipwise run` and `clipwise ingest` as child
 * processes with a YAML file that has a wrong type, an unknown key, a missing camera URL or
 * broken YAML. Each must exit 2, name the offending field (or line) on stderr, and start
 * nothing (no model load, no metrics server, no camera).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startClipwise } from '../support/clipwise.ts';

interface Case {
  readonly name: string;
  readonly command: 'run' | 'ingest';
  readonly yaml: string;
  /** What stderr must name. */
  readonly names: RegExp;
}

const CAMERA = 'sources: [ { type: synthetic, cameraId: cam1 } ]';
const CASES: readonly Case[] = [
  { name: 'a wrong type', command: 'run', yaml: `pipeline: { fps: fast }\n${CAMERA}`, names: /pipeline\.fps/ },
  { name: 'a wrong type deep in a list', command: 'run', yaml: 'sources: [ { type: rtsp, cameraId: cam1, url: "rtsp://h/x", stallTimeoutMs: soon } ]', names: /sources\[0\]\.stallTimeoutMs/ },
  { name: 'an unknown key', command: 'run', yaml: `detection: { clasThreshold: 0.5 }\n${CAMERA}`, names: /detection\.clasThreshold/ },
  { name: 'a missing camera URL', command: 'run', yaml: 'sources: [ { type: rtsp, cameraId: cam1 } ]', names: /sources\[0\]\.url/ },
  { name: 'a missing camera URL (ingest)', command: 'ingest', yaml: 'sources: [ { type: rtsp, cameraId: cam1 } ]\nkafka: { brokers: ["127.0.0.1:9"] }', names: /sources\[0\]\.url/ },
  { name: 'broken YAML', command: 'run', yaml: 'sources: [ { type: synthetic, cameraId: cam1 }\nsinks: [', names: /line \d+/ },
];

for (const c of CASES) {
  test(`clipwise ${c.command} with ${c.name}: exit 2, the field named, nothing started`, async () => {
    const child = startClipwise([c.command], { config: c.yaml });
    const { code } = await child.exited;
    const err = child.stderr();
    assert.equal(code, 2, err);
    assert.match(err, c.names);
    assert.match(err, /invalid configuration|not valid YAML/);
    assert.doesNotMatch(err, /metrics on|clipwise running|ingest:|tensor backend/, 'nothing was started');
    assert.equal(child.stdout(), '', 'no event, no output');
  });
}
