/**
 * A real single-node Apache Kafka broker (KRaft, combined broker+controller) for
 * integration tests, run from the Apache jars that `scripts/kafka/fetch.sh` resolves
 * through Maven Central into `.cache/kafka/<version>/libs` (once; later runs reuse them).
 *
 * Why a real broker and not a mock: the adapters' hard parts (idempotent produce, group
 * rebalances, offset commits, fetch sizes, a broker that dies) are behaviours of Kafka
 * itself, and kafkajs against a fake proves nothing about them.
 *
 * Each broker gets free loopback ports, a temp directory (data, config, log file) and
 * test-speed settings; it is stopped (SIGTERM, then SIGKILL) and its directory removed by
 * `stop()`, and any broker still running when the test process exits or is signalled is
 * killed. A small watchdog process also kills the JVM if the test process dies by SIGKILL.
 *
 * Env: CLIPWISE_KAFKA_VERSION (jar version, default in scripts/kafka/pom.xml),
 * CLIPWISE_KAFKA_CACHE (cache dir), JAVA_HOME or `java` on PATH (Java 17+).
 *
 * @example
 * const kafka = await startKafka();
 * await kafka.createTopics([{ topic: 'frames', partitions: 2 }]);
 * // … new Kafka({ brokers: kafka.brokers }) …
 * await kafka.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type ITopicConfig, type KafkaMessage } from 'kafkajs';

/** A topic to create: name, partitions (default 1), topic-level configs. */
export interface TopicSpec {
  readonly topic: string;
  readonly partitions?: number;
  readonly config?: Readonly<Record<string, string>>;
}

/** A running test broker and its controls. */
export interface KafkaBroker {
  /** Bootstrap addresses (`127.0.0.1:<port>`). Stable across `kill()` / `restart()`. */
  readonly brokers: string[];
  /** The SASL_PLAINTEXT (mechanism PLAIN) listener, when `saslPlainUsers` was given. */
  readonly saslBrokers: string[];
  /** The broker's log file (stdout and stderr of the JVM). */
  readonly logFile: string;
  /** Create topics and wait until they have leaders. */
  createTopics(topics: readonly TopicSpec[]): Promise<void>;
  /** Graceful stop (SIGTERM, SIGKILL after a grace period), then delete the temp directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL the broker, keep its data: a crash, for fault tests. `restart()` brings it back. */
  kill(): Promise<void>;
  /** Stop the broker if it runs (gracefully) and start it again on the same port and data. */
  restart(): Promise<void>;
  /** The last lines of the broker log, for failure messages. */
  logTail(lines?: number): string;
}

/** Options of {@link startKafka}. */
export interface StartKafkaOptions {
  /** Give up starting after this long. Default 60 s (a start takes ~3-5 s here). */
  readonly startTimeoutMs?: number;
  /** Extra or overriding `server.properties` entries. */
  readonly serverProperties?: Readonly<Record<string, string>>;
  /** JVM heap. Default 512m. */
  readonly heap?: string;
  /** Also open a SASL_PLAINTEXT listener (PLAIN) accepting these user → password pairs. */
  readonly saslPlainUsers?: Readonly<Record<string, string>>;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooksInstalled = false;

/**
 * Starts a fresh single-node KRaft broker and waits until a client can use it.
 *
 * @param options - timeouts and server property overrides
 * @returns the broker handle; call `stop()` in an `after` hook
 */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  installExitHooks();
  // Another process may bind a probed port before the broker does: try fresh ports then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt >= 3 || !/BindException|Address already in use/.test(String((err as Error).message))) throw err;
    }
  }
}

async function startOnce(options: StartKafkaOptions): Promise<KafkaBroker> {
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const libs = resolveJars();
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const dir = mkdtempSync(join(tmpdir(), 'clipwise-kafka-'));
  tempDirs.add(dir);
  const [port, controllerPort, saslPort] = await freePorts(3);
  const brokers = [`127.0.0.1:${port}`];
  const sasl = options.saslPlainUsers;
  const saslBrokers = sasl ? [`127.0.0.1:${saslPort}`] : [];
  const jaasQuote = (v: string): string => `"${v.replace(/["\\]/g, '')}"`;
  const logFile = join(dir, 'broker.log');
  const props: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${sasl ? `,SASL_PLAINTEXT://127.0.0.1:${saslPort}` : ''}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}${sasl ? `,SASL_PLAINTEXT://127.0.0.1:${saslPort}` : ''}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT',
    ...(sasl
      ? {
          'sasl.enabled.mechanisms': 'PLAIN',
          'listener.name.sasl_plaintext.plain.sasl.jaas.config':
            'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
            Object.entries(sasl).map(([user, password]) => `user_${user}=${jaasQuote(password)}`).join(' ') +
            ';',
        }
      : {}),
    'log.dirs': join(dir, 'data'),
    'num.partitions': '1',
    'auto.create.topics.enable': 'false',
    // One replica of everything, and tiny internal topics: they are created on first use.
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '1',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'transaction.state.log.num.partitions': '1',
    'share.coordinator.state.topic.replication.factor': '1',
    'share.coordinator.state.topic.min.isr': '1',
    'group.initial.rebalance.delay.ms': '0',
    // After a SIGKILL the controller keeps the dead broker's registration until its session
    // expires (9 s by default), and the restarted broker cannot register before that.
    'broker.heartbeat.interval.ms': '500',
    'broker.session.timeout.ms': '3000',
    // Lets tests use short consumer sessions so evictions happen in seconds.
    'group.min.session.timeout.ms': '1000',
    // Raw RGB frames are bigger than the 1 MB default.
    'message.max.bytes': '16777216',
    // A 2-core machine shared with other work: few threads, a small cleaner buffer.
    'num.network.threads': '2',
    'num.io.threads': '2',
    'background.threads': '2',
    'num.recovery.threads.per.data.dir': '1',
    'log.cleaner.threads': '1',
    'log.cleaner.dedupe.buffer.size': '8388608',
    ...options.serverProperties,
  };
  const config = join(dir, 'server.properties');
  writeFileSync(config, Object.entries(props).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const log4j = join(dir, 'log4j2.properties');
  writeFileSync(
    log4j,
    [
      'rootLogger.level=INFO',
      'rootLogger.appenderRef.out.ref=OUT',
      'appender.out.type=Console',
      'appender.out.name=OUT',
      'appender.out.layout.type=PatternLayout',
      'appender.out.layout.pattern=[%d] %p %m (%c)%n',
      // The state-change and request loggers are very chatty at INFO.
      'logger.state.name=state.change.logger',
      'logger.state.level=WARN',
    ].join('\n') + '\n',
  );
  const jvm = [
    `-Xmx${options.heap ?? '512m'}`,
    '-Xss1m',
    // C1 only and the serial collector: a test broker is short-lived, start-up time and
    // CPU share matter more than peak throughput.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-XX:-UsePerfData',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4j}`,
    '-cp',
    join(libs, '*'),
  ];

  // KRaft needs its metadata directory formatted once with a cluster id.
  // A base64url id can start with '-', which the tool's argument parser takes for an option
  // (1 start in 64 failed with "argument --cluster-id/-t: expected one argument").
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  const format = spawnSync(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', config], {
    encoding: 'utf8',
    timeout: startTimeoutMs,
  });
  if (format.status !== 0) {
    const out = `${format.stdout ?? ''}${format.stderr ?? ''}`.split('\n').slice(-30).join('\n');
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
    throw new Error(`kafka storage format failed (${format.error?.message ?? `exit ${format.status}`}):\n${out}`);
  }

  let child: ChildProcess | undefined;
  let watchdog: ChildProcess | undefined;
  let stopped = false;

  const tail = (lines = 40): string =>
    existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n') : '(no log)';

  const launch = async (): Promise<void> => {
    const fd = openSync(logFile, 'a');
    const proc = spawn(java, [...jvm, 'kafka.Kafka', config], { stdio: ['ignore', fd, fd], cwd: dir });
    closeSync(fd);
    child = proc;
    running.add(proc);
    proc.once('exit', () => {
      running.delete(proc);
      watchdog?.kill('SIGKILL');
    });
    watchdog = startWatchdog(proc.pid, dir);
    try {
      await waitReady(proc, brokers, startTimeoutMs);
    } catch (err) {
      await terminate(proc, 0);
      throw new Error(`${(err as Error).message}\n--- broker log tail (${logFile}) ---\n${tail()}`, { cause: err });
    }
  };

  const shutdown = async (signalGraceMs: number): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc) await terminate(proc, signalGraceMs);
    watchdog?.kill('SIGKILL');
    watchdog = undefined;
  };

  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
    throw err;
  }

  return {
    brokers,
    saslBrokers,
    logFile,
    async createTopics(topics) {
      const admin = new Kafka({ brokers, clientId: 'test-admin', logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        const specs: ITopicConfig[] = topics.map((t) => ({
          topic: t.topic,
          numPartitions: t.partitions ?? 1,
          replicationFactor: 1,
          configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
        }));
        await admin.createTopics({ topics: specs, waitForLeaders: true, timeout: 20_000 });
      } finally {
        await admin.disconnect();
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await shutdown(15_000);
      rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
    async kill() {
      await shutdown(0);
    },
    async restart() {
      if (stopped) throw new Error('broker was stopped; start a new one');
      await shutdown(15_000);
      await launch();
    },
    logTail: tail,
  };
}

/** A message read back by {@link consumeMessages}, with where it was. */
export interface ConsumedMessage {
  readonly partition: number;
  readonly offset: number;
  readonly message: KafkaMessage;
}

/**
 * Reads `count` messages of a topic from the beginning with a plain kafkajs consumer (a
 * fresh group each call): the "outside subscriber" view of what an adapter wrote.
 *
 * @param brokers - bootstrap list
 * @param topic - topic to read
 * @param count - messages to wait for
 * @param timeoutMs - give up (reject) after this long; default 20 s
 * @returns the messages in arrival order (per partition in offset order)
 */
export async function consumeMessages(
  brokers: readonly string[],
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<ConsumedMessage[]> {
  const kafka = new Kafka({ brokers: [...brokers], clientId: 'test-reader', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `test-reader-${randomBytes(6).toString('hex')}`, maxWaitTimeInMs: 100 });
  const out: ConsumedMessage[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((res, rej) => {
      timer = setTimeout(() => rej(new Error(`read ${out.length} of ${count} messages of '${topic}' in ${timeoutMs} ms`)), timeoutMs);
      if (count === 0) res();
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            out.push({ partition, offset: Number(message.offset), message });
            if (out.length >= count) res();
          },
        })
        .catch(rej);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return out;
}

/** Runs scripts/kafka/fetch.sh (a no-op when cached) and returns the jar directory. */
function resolveJars(): string {
  const res = spawnSync('sh', [join(ROOT, 'scripts/kafka/fetch.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (res.status !== 0) {
    throw new Error(`could not resolve the Kafka jars (scripts/kafka/fetch.sh): ${res.stderr?.slice(-2000) ?? res.error?.message}`);
  }
  const libs = res.stdout.trim().split('\n').pop() ?? '';
  if (!existsSync(join(libs, '.complete'))) throw new Error(`fetch.sh printed '${libs}', which holds no jars`);
  return libs;
}

async function waitReady(proc: ChildProcess, brokers: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  const onExit = (code: number | null, signal: string | null): void => {
    exited = `broker exited during start (code ${code}, signal ${signal})`;
  };
  proc.once('exit', onExit);
  try {
    // Ready = a client gets cluster metadata (not a log line: log formats change between
    // versions). The group lookup then creates the consumer-offsets topic, so the first
    // group join of a test does not wait for it.
    for (;;) {
      if (exited) throw new Error(exited);
      if (Date.now() > deadline) throw new Error(`broker not serving requests within ${timeoutMs} ms`);
      const probe = new Kafka({ brokers, clientId: 'test-probe', logLevel: logLevel.NOTHING, connectionTimeout: 1000, retry: { retries: 0 } }).admin();
      try {
        await probe.connect();
        await probe.describeCluster();
        break;
      } catch {
        await sleep(200);
      } finally {
        await probe.disconnect().catch(() => undefined);
      }
    }
    const admin = new Kafka({
      brokers,
      clientId: 'test-ready',
      logLevel: logLevel.NOTHING,
      retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 },
    }).admin();
    try {
      await admin.connect();
      await admin.describeGroups(['clipwise-test-warmup']);
    } finally {
      await admin.disconnect();
    }
    if (exited) throw new Error(exited);
  } finally {
    proc.off('exit', onExit);
  }
}

/** SIGTERM, then SIGKILL after `graceMs` (at once when 0); resolves when the process is gone. */
async function terminate(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise<void>((res) => proc.once('exit', () => res()));
  proc.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
  if (graceMs > 0) {
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  } else {
    await gone;
  }
}

/**
 * A detached shell that kills the JVM if this process disappears without running its exit
 * hooks (SIGKILL, OOM kill). It checks the JVM's command line names our temp directory
 * before killing, so a recycled pid is never hit.
 */
function startWatchdog(javaPid: number | undefined, dir: string): ChildProcess | undefined {
  if (javaPid === undefined) return undefined;
  const script =
    'while kill -0 "$1" 2>/dev/null; do ' +
    '  kill -0 "$2" 2>/dev/null || exit 0; sleep 2; ' +
    'done; ' +
    'grep -q "$3" "/proc/$2/cmdline" 2>/dev/null && kill -9 "$2"';
  const dog = spawn('sh', ['-c', script, 'watchdog', String(process.pid), String(javaPid), dir], {
    stdio: 'ignore',
    detached: true,
  });
  dog.unref();
  return dog;
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const killAll = (): void => {
    for (const proc of running) proc.kill('SIGKILL');
    running.clear();
    // The JVM may still hold files open for a moment; removal of what it leaves is best effort.
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    tempDirs.clear();
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      // Re-raise so the process still dies of the signal, as it would have without us.
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Free loopback ports below the kernel's ephemeral range. Why not `listen(0)`: that picks
 * from the ephemeral range, where any outgoing connection (another test's client) may take
 * the port as its local port between our probe and the broker's bind, or while a killed
 * broker is down before `restart()`.
 */
async function freePorts(count: number): Promise<number[]> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the common default
  }
  const from = 15000;
  const span = Math.max(1000, low - from);
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count && attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * span);
    if (ports.includes(port)) continue;
    if (await canBind(port)) ports.push(port);
  }
  if (ports.length < count) throw new Error('no free loopback ports found for the test broker');
  return ports;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((res) => {
    const server = createServer();
    server.once('error', () => res(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => res(true)));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}
