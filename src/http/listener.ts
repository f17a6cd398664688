/**
 * The HTTP listener: `node:http` (Deno's implementation, on `node:net`) with the Hono app behind
 * `@hono/node-server`'s request/response conversion, instead of `Deno.serve`.
 *
 * Why not `Deno.serve`: its accept loop runs inside Deno, out of reach. When `accept` fails —
 * `Too many open files (os error 24)` once idle connections have used every descriptor — the loop
 * ends, `finished` rejects (an uncaught rejection: the process exits, every room with it) and the
 * port stops listening; and it has no header or idle timeout and no connection count, so nothing
 * closes a slowloris or silent connection. `node:http` has all of these: `headersTimeout` (the
 * request line and headers must arrive in time, however slowly they trickle), `requestTimeout`
 * (the whole request), `keepAliveTimeout` (silence between requests), a `connection` event to
 * count and refuse sockets, and an accept loop that survives `EMFILE`.
 *
 * Past {@link HttpListenerOptions.maxConnections} a new connection is closed at once (and
 * counted); the connections already open are served as before.
 *
 * With {@link HttpListenerOptions.tls} it serves HTTPS (HTTP/1.1) through `node:https`, which takes
 * the same options and events as `node:http`: the timeouts, the connection cap (counted on the TCP
 * connection, before the handshake) and the watchdog are the same. Not `node:http2`'s
 * `createSecureServer({ allowHTTP1: true })`, although it served our requests and event streams
 * under Deno 2.9.6: it has no `headersTimeout` or `requestTimeout` (measured: a TLS connection
 * that sent half a request line stayed open 30 s and more, where `node:https` closed it after
 * `headersTimeout`). Deno's `node:tls` does not check the PEM either (a garbage certificate or the
 * key of another certificate listens, then fails every handshake): {@link tlsProblem} does, first.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Socket } from "node:net";
import { getRequestListener } from "@hono/node-server";
import type { Logger } from "../log.ts";
import { awaitAccept, PROBE_INTERVAL_MS } from "./watchdog.ts";

/**
 * Largest request line and headers, bytes (431 beyond). Node's default is 16 KiB; a bearer token
 * with large claims may be bigger and must reach the verifier (401), not the parser.
 */
export const MAX_HEADER_BYTES = 32 * 1024;

/** Options of {@link listenHttp}. */
export interface HttpListenerOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port (0: any free port). */
  port: number;
  /**
   * Share the port with other processes (`SO_REUSEPORT`: the kernel spreads new connections
   * over them; Linux), for several server processes on one machine.
   */
  reusePort?: boolean;
  /** Most open HTTP connections; more are closed as soon as they are accepted. */
  maxConnections: number;
  /** Time for a request's line and headers to arrive, from the connection's start or the previous response, ms. */
  headersTimeoutMs: number;
  /** Time for a whole request (headers and body) to arrive, ms. */
  requestTimeoutMs: number;
  /** Silence allowed on a kept-alive connection between requests, ms. */
  idleTimeoutMs: number;
  /** Where refusals and listener errors are logged. */
  log: Logger;
  /** Certificate chain and private key: HTTPS instead of plain HTTP. */
  tls?: TlsPem;
}

/** A certificate chain and its private key, PEM text. */
export interface TlsPem {
  /** The certificate, then any intermediates (`-----BEGIN CERTIFICATE-----`). */
  cert: string;
  /** Its unencrypted private key (PKCS#8, or EC / RSA). */
  key: string;
}

/**
 * What is wrong with a certificate and key, or undefined when they can serve HTTPS: `cert` (not a
 * PEM certificate), `key` (not an unencrypted PEM private key) or `mismatch` (the key is not the
 * certificate's).
 */
export function tlsProblem(tls: TlsPem): "cert" | "key" | "mismatch" | undefined {
  let cert: X509Certificate;
  try {
    if (!tls.cert.includes("-----BEGIN CERTIFICATE-----")) return "cert";
    cert = new X509Certificate(tls.cert);
  } catch {
    return "cert";
  }
  let key;
  try {
    key = createPrivateKey(tls.key);
  } catch {
    return "key";
  }
  try {
    return cert.checkPrivateKey(key) ? undefined : "mismatch";
  } catch {
    return "mismatch";
  }
}

/** What the handler learns about the connection. */
export interface ConnectionInfo {
  /** The TCP peer (the shape `hono/deno`'s `getConnInfo` reads). */
  remoteAddr: Deno.NetAddr;
}

/** Counters of the listener. */
export interface ConnectionStats {
  /** HTTP connections open now. */
  open: number;
  /** Connections closed at once because {@link HttpListenerOptions.maxConnections} were open. */
  refused: number;
  /** The connection cap in force. */
  max: number;
  /** Times the watchdog found the listening socket dead and opened a new one. */
  reopened: number;
}

/** A listening HTTP server. */
export interface HttpListener {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Settles when the listener has closed. */
  readonly finished: Promise<void>;
  /** Connection counters. */
  stats(): ConnectionStats;
  /**
   * Stops accepting, closes idle connections, lets requests in flight finish for `graceMs`, then
   * closes whatever is left.
   */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Starts listening; resolves once bound, rejects with a `Deno.errors` class when it cannot.
 *
 * A watchdog connects to the listener when nothing was accepted for {@link PROBE_INTERVAL_MS}: Deno 2.9's `node:net`
 * listening socket stops accepting for good, without an `error` event, once one `accept` failed
 * with `EMFILE` (measured: a server under `prlimit --nofile=300` flooded past it never accepted
 * again). When a probe is not accepted within `PROBE_TIMEOUT_MS` (watchdog.ts), while the event loop kept
 * its turns on time, the listening socket is closed and a new one opened on the same address; the
 * connections already open are served on.
 */
export function listenHttp(
  options: HttpListenerOptions,
  handler: (request: Request, info: ConnectionInfo) => Response | Promise<Response>,
): Promise<HttpListener> {
  const { log, tls } = options;
  const problem = tls && tlsProblem(tls);
  if (problem) {
    return Promise.reject(new Error(`the TLS certificate or key is unusable: ${problem}`));
  }
  const listener = getRequestListener((light, env) => {
    const socket = env.incoming.socket;
    // Deno's own Request (hono's body limit rebuilds it with the global constructor).
    const bodied = light.method !== "GET" && light.method !== "HEAD";
    const request = new Request(light.url, {
      method: light.method,
      headers: light.headers,
      body: bodied ? light.body : null,
      signal: light.signal,
      // @ts-ignore: `duplex` is required by fetch for a stream body, not yet in Deno's types
      duplex: "half",
    });
    return handler(request, {
      remoteAddr: {
        transport: "tcp",
        hostname: socket.remoteAddress ?? "unknown",
        port: socket.remotePort ?? 0,
      },
    });
    // Its default replaces the process's global Request and Response with lighter classes of its
    // own: werift, fetch and the rest of the process keep Deno's.
  }, { overrideGlobalObjects: false });
  const sockets = new Set<Socket>();
  const servers = new Set<Listening>();
  let refused = 0;
  let reopened = 0;
  let lastRefusalLog = 0;
  let closing = false;
  let lastAccept = performance.now();

  const createServer = () => {
    const settings: http.ServerOptions = {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      keepAliveTimeout: options.idleTimeoutMs,
      // How often the two request timeouts are checked: a tenth of the shorter, 1 s at most.
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(
          1000,
          Math.floor(Math.min(options.headersTimeoutMs, options.requestTimeoutMs) / 10),
        ),
      ),
    };
    const server: Listening = tls
      ? https.createServer({ ...settings, cert: tls.cert, key: tls.key }, listener)
      : http.createServer(settings, listener);
    server.on("connection", (socket: Socket) => {
      lastAccept = performance.now();
      if (sockets.size >= options.maxConnections) {
        refused++;
        socket.destroy();
        const now = Date.now();
        if (now - lastRefusalLog > 10_000) { // one line per 10 s, not one per connection
          lastRefusalLog = now;
          log.warn("http connection refused: at the connection limit", {
            max: options.maxConnections,
            refused,
          });
        }
        return;
      }
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    // A request the parser refuses (garbage, headers over 32 KiB, too slow): a problem document
    // where the socket can still take one, never a throw.
    // Not for a failed TLS handshake (plain http to the HTTPS port): nothing readable can be sent.
    server.on("clientError", (error: Error & { code?: string }, socket: Socket) => {
      if (!socket.writable || error.code?.startsWith("ERR_SSL")) return socket.destroy();
      socket.end(clientErrorResponse(error.code));
    });
    servers.add(server);
    server.on("close", () => servers.delete(server));
    return server;
  };

  /** Listens on `port`; resolves with the bound address. */
  const listen = (server: Listening, port: number) =>
    new Promise<Deno.NetAddr>((resolve, reject) => {
      const onStartError = (error: Error & { code?: string }) => {
        servers.delete(server);
        reject(denoError(error));
      };
      server.once("error", onStartError);
      server.listen({ port, host: options.hostname, reusePort: options.reusePort }, () => {
        server.off("error", onStartError);
        // After the start an error (accept failing: EMFILE, ENFILE) is logged, never thrown.
        server.on(
          "error",
          (error: Error) => log.error("http listener error", { error: error.message }),
        );
        const bound = server.address();
        resolve({
          transport: "tcp",
          hostname: typeof bound === "object" && bound ? bound.address : options.hostname,
          port: typeof bound === "object" && bound ? bound.port : port,
        });
      });
    });

  return (async () => {
    let current = createServer();
    const addr = await listen(current, options.port);
    const probeHost = addr.hostname === "0.0.0.0"
      ? "127.0.0.1"
      : addr.hostname === "::"
      ? "::1"
      : addr.hostname;

    /**
     * True when a probe connection reached the listener; undefined when none could be made, or
     * when the event loop lagged while waiting: then a late accept cannot be told from none, and
     * replacing a live socket would drop every connection in its backlog (a join storm that
     * kept the loop busy for seconds made this watchdog do exactly that).
     */
    const probe = async (): Promise<boolean | undefined> => {
      // Any connection accepted after the probe started proves the socket alive. (Matching the
      // probe's own port raced: the accept can come before `connect` resolves here.)
      const started = performance.now();
      let conn: Deno.Conn;
      try {
        conn = await Deno.connect({ hostname: probeHost, port: addr.port });
      } catch (error) {
        // Out of descriptors ourselves: no verdict. Refused: nothing listens any more.
        return error instanceof Deno.errors.ConnectionRefused ? false : undefined;
      }
      try {
        return await awaitAccept(started, () => lastAccept >= started);
      } finally {
        conn.close();
      }
    };

    let probing: Promise<void> | undefined;
    const watchdog = setInterval(() => {
      // A connection accepted since the last check proves the socket alive: no probe needed.
      if (probing || closing || performance.now() - lastAccept < PROBE_INTERVAL_MS) return;
      probing = check().finally(() => probing = undefined);
    }, PROBE_INTERVAL_MS);
    Deno.unrefTimer(watchdog);

    /** Probes; replaces the listening socket when the probe was not accepted. */
    const check = async () => {
      if ((await probe()) !== false || closing) return;
      log.error("http listener stopped accepting: opening a new listening socket", {
        open: sockets.size,
      });
      reopened++;
      const dead = current;
      dead.close(); // stops listening; its open connections are served on
      const next = createServer();
      try {
        await listen(next, addr.port);
        current = next;
      } catch (error) {
        log.error("http listener could not listen again (next try soon)", {
          error: (error as Error).message,
        });
      }
    };

    let finish!: () => void;
    const finished = new Promise<void>((resolve) => finish = resolve);
    return {
      addr,
      finished,
      stats: () => ({ open: sockets.size, refused, max: options.maxConnections, reopened }),
      async shutdown(graceMs = 2000) {
        closing = true;
        clearInterval(watchdog);
        await probing;
        const all = [...servers];
        const closed = Promise.all(
          all.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
        );
        for (const server of all) server.closeIdleConnections();
        const deadline = Date.now() + graceMs;
        while (sockets.size > 0 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
          for (const server of all) server.closeIdleConnections();
        }
        for (const socket of sockets) socket.destroy();
        await closed;
        finish();
      },
    };
  })();
}

/** The listening server: `node:http`'s, or `node:https`'s with a certificate. */
type Listening = http.Server | https.Server;

/** Node's listen errors as the `Deno.errors` classes the start-up messages test for. */
function denoError(error: Error & { code?: string }): Error {
  const map: Record<string, new (message: string) => Error> = {
    EADDRINUSE: Deno.errors.AddrInUse,
    EADDRNOTAVAIL: Deno.errors.AddrNotAvailable,
    EACCES: Deno.errors.PermissionDenied,
    EPERM: Deno.errors.PermissionDenied,
  };
  const Class = error.code === undefined ? undefined : map[error.code];
  return Class ? new Class(error.message) : error;
}

/** The raw HTTP answer to a request the parser refused, as RFC 9457 problem details. */
export function clientErrorResponse(code: string | undefined): string {
  const [status, reason, type, title, detail] = code === "HPE_HEADER_OVERFLOW"
    ? [
      431,
      "Request Header Fields Too Large",
      "headers-too-large",
      "Headers too large",
      `the request's headers are over ${MAX_HEADER_BYTES / 1024} KiB`,
    ]
    : code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? [408, "Request Timeout", "request-timeout", "Request timeout", "the request came too slowly"]
    : [400, "Bad Request", "bad-request", "Bad request", "the request is not well-formed HTTP/1.1"];
  // The same shape as src/http/problem.ts's documents (`/problems/<code>`).
  const body = JSON.stringify({ type: `/problems/${type}`, title, status, detail });
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/problem+json\r\n` +
    `Content-Length: ${new TextEncoder().encode(body).length}\r\nConnection: close\r\n\r\n${body}`;
}
