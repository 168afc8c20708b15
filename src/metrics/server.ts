/**
 * The HTTP side of a running clipwise: `/metrics` (Prometheus), `/healthz` (process alive),
 * `/readyz` (pipeline can do its job: sources and sinks connected), `/events` (server-sent
 * events for dashboards).
 *
 * @example
 * const http = await startHttpServer({ registry, port: 9464, host: '127.0.0.1', ready: () => true });
 * http.broadcast(event); await http.close();
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HttpServerDeps {
  readonly registry: Registry;
  readonly port: number;
  readonly host: string;
  /** Returns whether the pipeline is ready, with reasons when it is not. */
  readonly ready: () => { ready: boolean; reasons?: readonly string[] };
  /** At most this many SSE clients; more get 503 so a dashboard storm cannot eat memory. */
  readonly maxSseClients?: number;
}

export interface HttpServer {
  readonly port: number;
  /** Send one JSON record to every SSE client (slow clients are dropped, not buffered). */
  broadcast(event: unknown): void;
  close(): Promise<void>;
}

/** Start the metrics/health/SSE server. */
export async function startHttpServer(deps: HttpServerDeps): Promise<HttpServer> {
  const clients = new Set<ServerResponse>();
  const maxClients = deps.maxSseClients ?? 32;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      deps.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': deps.registry.contentType });
          res.end(text);
        })
        .catch((err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        });
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    } else if (path === '/readyz') {
      const r = deps.ready();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ready: r.ready, reasons: r.reasons ?? [] }));
    } else if (path === '/events') {
      if (clients.size >= maxClients) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('too many event stream clients');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(': clipwise action events\n\n');
      clients.add(res);
      req.on('close', () => clients.delete(res));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics, /healthz, /readyz, /events');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.port, deps.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    broadcast(event) {
      const line = `data: ${JSON.stringify(event)}\n\n`;
      for (const c of clients) {
        // A client that cannot keep up is cut off rather than buffered without bound.
        if (!c.write(line)) {
          clients.delete(c);
          c.destroy();
        }
      }
    },
    async close() {
      for (const c of clients) c.end();
      clients.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}
