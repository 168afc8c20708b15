/**
 * A real RTSP server on loopback for decoder tests, fed by real ffmpeg.
 *
 * The server is GStreamer's gst-rtsp-server driven by a small Python script (Debian
 * packages `gir1.2-gst-rtsp-server-1.0`, `gstreamer1.0-plugins-good`, `python3-gi`). Why
 * not an npm server: the pure-JS ones (rtsp-streaming-server) refuse RTP over TCP, which is
 * the transport the decoder uses. Each published path is an H.264 stream: ffmpeg encodes
 * the file and sends RTP to a UDP port; the server's pipeline for that path re-payloads it
 * and serves any number of RTSP clients (TCP interleaved), with SPS/PPS repeated at every
 * key frame so a client joining mid-stream can start decoding.
 *
 * The server process can be taken down and brought back on the same port while the
 * publishers keep sending (a camera or relay reboot), and a silent TCP server stands in for
 * a camera that accepts connections but never answers.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess, ChildProcessByStdio } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';

/** The Python with GObject introspection (Debian's, not a pyenv shim). */
const PYTHON = process.env.CLIPWISE_GST_PYTHON ?? '/usr/bin/python3';

const SERVER_SCRIPT = String.raw`
import sys
import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import Gst, GstRtspServer, GLib
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address('127.0.0.1')
server.set_service(sys.argv[1])
mounts = server.get_mount_points()
loop = GLib.MainLoop()
CAPS = 'application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96'
def add(path, udp):
    factory = GstRtspServer.RTSPMediaFactory()
    # A large receive buffer: on a busy machine the default (208 KiB) overflows while this
    # process waits for a CPU, and the lost RTP packets corrupt frames.
    factory.set_launch('( udpsrc address=127.0.0.1 port=%d buffer-size=4194304 caps="%s" ! rtph264depay ! rtph264pay name=pay0 pt=96 config-interval=-1 )' % (udp, CAPS))
    factory.set_shared(True)
    mounts.add_factory(path, factory)
def on_stdin(source, condition):
    line = sys.stdin.readline()
    if not line:
        loop.quit()
        return False
    parts = line.split()
    if len(parts) == 3 and parts[0] == 'add':
        add(parts[1], int(parts[2]))
        print('added ' + parts[1], flush=True)
    return True
if server.attach(None) == 0:
    print('error cannot bind ' + sys.argv[1], flush=True)
    sys.exit(2)
print('ready %d' % server.get_bound_port(), flush=True)
GLib.io_add_watch(sys.stdin, GLib.IO_IN | GLib.IO_HUP, on_stdin)
loop.run()
`;

/** Whether this machine can run the server, and if not, why (for `test(..., { skip })`). */
export function rtspServerUnavailableReason(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"], { encoding: 'utf8' });
  if (probe.error !== undefined) return `${PYTHON}: ${probe.error.message}`;
  if (probe.status !== 0) return `gst-rtsp-server not importable (apt-get install gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good python3-gi): ${probe.stderr.trim().split('\n').at(-1) ?? ''}`;
  const ffmpeg = spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8' });
  if (ffmpeg.error !== undefined || !/libx264/.test(ffmpeg.stdout)) return 'ffmpeg with libx264 is needed to publish';
  return undefined;
}

/** A file being streamed into the server. */
export interface RtspPublisher {
  readonly path: string;
  readonly pid: number;
  /** Resolves when the publisher has exited: at the end of the file when not looping, or after `stop()`. */
  readonly exited: Promise<void>;
  /** Stops the stream (the path then serves no data: clients stay connected, silent). */
  stop(): Promise<void>;
}

/** Options of {@link RtspServerHarness.publish}. */
export interface PublishOptions {
  /** Start over at end of file, forever. Default true. */
  readonly loop?: boolean;
  /** Key frame interval in frames; short so clients can start quickly. Default 10. */
  readonly gop?: number;
  /**
   * Lossless H.264 (x264 `-qp 0`, one slice per frame) instead of x264's default quality: a
   * client decodes exactly the pixels a decode of the file gives, so a test can check frames bit
   * for bit. Default false.
   */
  readonly lossless?: boolean;
}

/** The running server. */
export interface RtspServerHarness {
  readonly port: number;
  /** The RTSP URL of a path, e.g. `url('/cam1')`. */
  url(path: string): string;
  /** Streams `file` (looping by default, at its native rate) to `path`. */
  publish(file: string, path: string, options?: PublishOptions): Promise<RtspPublisher>;
  /** Kills the server process; clients are disconnected, publishers keep sending. */
  down(): Promise<void>;
  /** Starts the server again on the same port with the same paths. */
  up(): Promise<void>;
  /** `down`, wait `downMs`, `up`. */
  restart(downMs?: number): Promise<void>;
  /** Stops the server and every publisher. */
  stop(): Promise<void>;
}

/**
 * Starts gst-rtsp-server on 127.0.0.1 on a free port.
 *
 * @example
 * const rtsp = await startRtspServer();
 * await rtsp.publish(VTEST, '/cam');
 * // decode rtsp.url('/cam') …
 * await rtsp.stop();
 * @returns the harness; always `stop()` it (in `t.after`)
 */
export async function startRtspServer(): Promise<RtspServerHarness> {
  const mounts = new Map<string, number>();
  const publishers = new Set<ChildProcess>();
  let server: ServerProcess | undefined = await launchServer(0);
  const port = server.port;

  const harness: RtspServerHarness = {
    port,
    url: (path) => `rtsp://127.0.0.1:${port}${path}`,
    async publish(file, path, options = {}) {
      if (!path.startsWith('/')) throw new Error(`path must start with /, got ${path}`);
      const udpPort = mounts.get(path) ?? (await freeUdpPort());
      mounts.set(path, udpPort);
      if (server !== undefined) await server.add(path, udpPort);
      const args = [
        '-nostdin', '-hide_banner', '-loglevel', 'error',
        '-re', ...(options.loop ?? true ? ['-stream_loop', '-1'] : []), '-i', file,
        '-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency',
        '-g', String(options.gop ?? 10), '-bf', '0',
        // One encoder thread = one slice per frame: with x264's sliced threads (zerolatency) the
        // client's decode of this relay was off at slice boundaries (a band of rows, every frame).
        ...(options.lossless === true ? ['-qp', '0', '-threads', '1'] : []),
        '-f', 'rtp', `rtp://127.0.0.1:${udpPort}?pkt_size=1200`,
      ];
      const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.resume();
      publishers.add(child);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.once('exit', () => publishers.delete(child));
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      return {
        path,
        pid: child.pid ?? -1,
        exited,
        stop: async () => {
          await stopProcess(child);
        },
      };
    },
    async down() {
      const running = server;
      server = undefined;
      if (running !== undefined) await running.stop();
    },
    async up() {
      if (server !== undefined) return;
      server = await launchServer(port);
      for (const [path, udpPort] of mounts) await server.add(path, udpPort);
    },
    async restart(downMs = 0) {
      await harness.down();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await harness.up();
    },
    async stop() {
      await Promise.all([...publishers].map((child) => stopProcess(child)));
      await harness.down();
    },
  };
  return harness;
}

/** A TCP server that accepts connections and never sends a byte. */
export interface SilentTcpServer {
  readonly port: number;
  url(path: string): string;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

/**
 * Starts a TCP listener on 127.0.0.1 that accepts and then says nothing: a camera whose
 * network stack is up but whose RTSP service hangs.
 *
 * @example
 * const silent = await startSilentTcpServer();
 * // decode silent.url('/x'): the watchdog must fire
 * @returns the server; `stop()` closes it and its connections
 */
export async function startSilentTcpServer(): Promise<SilentTcpServer> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.resume();
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    url: (path) => `rtsp://127.0.0.1:${port}${path}`,
    connections: () => accepted,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** True while a process with this pid exists (zombies included: they still hold the pid). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface ServerProcess {
  readonly port: number;
  add(path: string, udpPort: number): Promise<void>;
  stop(): Promise<void>;
}

async function launchServer(port: number, attemptsLeft = 20): Promise<ServerProcess> {
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(PYTHON, ['-c', SERVER_SCRIPT, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-2000);
  });
  const waiters: { prefix: string; resolve: (line: string) => void }[] = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    buffered += text;
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      const index = waiters.findIndex((w) => line.startsWith(w.prefix));
      if (index >= 0) waiters.splice(index, 1)[0]?.resolve(line);
      newline = buffered.indexOf('\n');
    }
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`rtsp server exited (${code ?? signal}): ${stderr.trim()}`)));
  });
  // Only a failure before 'ready' is an error of this call; later exits are expected.
  exited.catch(() => undefined);
  const expect = (prefix: string, timeoutMs: number): Promise<string> => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      new Promise<string>((resolve) => waiters.push({ prefix, resolve })),
      exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`rtsp server: no "${prefix}" within ${timeoutMs} ms: ${stderr.trim()}`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  let ready: string;
  try {
    // A restart on the same port can race the kernel releasing it: retry binding briefly.
    ready = await expect('ready', 10_000);
  } catch (error) {
    await stopProcess(child);
    if (port !== 0 && attemptsLeft > 0 && /cannot bind/.test(String(error))) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return launchServer(port, attemptsLeft - 1);
    }
    throw error;
  }
  const boundPort = Number(ready.split(' ')[1]);
  return {
    port: boundPort,
    add: async (path, udpPort) => {
      child.stdin.write(`add ${path} ${udpPort}\n`);
      await expect(`added ${path}`, 5000);
    },
    stop: () => stopProcess(child),
  };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}
