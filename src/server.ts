/**
 * Builds a running server from a {@link Config}: verifier, rooms, app, HTTP listener and a
 * graceful shutdown. `main.ts` calls it; tests start one on a random port the same way.
 *
 * @module
 */
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { createVerifier, mintToken } from "./auth/tokens.ts";
import { Rooms } from "./rooms/registry.ts";
import { WhepExtensions } from "./rooms/whep-extensions.ts";
import { createApp } from "./http/app.ts";
import type { AppDeps } from "./http/deps.ts";
import { createLogger } from "./log.ts";
import { RateLimiter } from "./http/rate-limit.ts";
import { loopLag, overloadProbe } from "./metrics/loop-lag.ts";
import type { MediaOptions } from "./media/peer.ts";
import { assertWerift } from "./media/werift/check.ts";
import { decideSendPath, type SendPath } from "./media/send-path.ts";
import { EgressScheduler } from "./media/egress-scheduler.ts";
import { ClusterNode } from "./cluster/node.ts";
import { type MediaPorts, mediaPortStats } from "./media/transport/ports.ts";
import { openPorts } from "./ports.ts";
import { type HttpListener, listenHttp, type TlsPem, tlsProblem } from "./http/listener.ts";
import { lookup } from "node:dns/promises";
import { connectionBudget } from "./http/connection-limits.ts";
import { nofileLimit } from "./os/rlimit.ts";
import { StreamSlots } from "./http/sse.ts";
import { NegotiationGate } from "./http/negotiations.ts";
import { checkRecordingsDir, Recordings } from "./recording/recordings.ts";

/** The demo room and tokens printed at start when no key is configured. */
export interface Demo {
  /** The demo room's name. */
  room: string;
  /** A host token for it. */
  hostToken: string;
  /** A participant token for it. */
  participantToken: string;
  /** A viewer token for it: watch only, fit for a link shared with an audience. */
  viewerToken: string;
}

/** A started server. */
export interface Server {
  /** Base URL, e.g. `http://127.0.0.1:8080` (`https://` with `TLS_CERT_FILE`). */
  url: string;
  /** The configuration it runs with. */
  config: Config;
  /** Its rooms service (for tests and shutdown). */
  rooms: Rooms;
  /** Demo tokens when in demo mode. */
  demo?: Demo;
  /** The send path to players decided at start (native, or werift's sender and why). */
  sendPath: SendPath;
  /** The shared media ports (UDP_PORT, TCP_PORT) and their counters. */
  ports: MediaPorts;
  /** From now on new sessions are refused with 503 and `Retry-After`. */
  beginDrain(): void;
  /** Refuses new sessions (503), ends every session, stops listening. */
  shutdown(): Promise<void>;
}

/** Options for {@link startServer}. */
export interface StartOptions {
  /** Extra media options (test hooks such as induced loss). */
  media?: Partial<MediaOptions>;
  /** Called once the listener is up. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** Starts the server described by `config` (by default, the environment's). */
export async function startServer(
  config: Config = loadConfig(),
  options: StartOptions = {},
): Promise<Server> {
  assertWerift(); // werift's members the media patches need, or one sentence and exit 2
  const log = createLogger(config.logLevel);
  const jwks = config.jwksFile ? await readJwks(config.jwksFile) : undefined;
  if (config.recordingsDir) {
    await checkRecordingsDir(config.recordingsDir).catch((e) => {
      throw new ConfigError(`RECORDINGS_DIR: ${e.message}`);
    });
  }
  let verifier;
  try {
    verifier = createVerifier({
      secret: config.jwtSecret,
      jwks,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      maxTtlSeconds: config.jwtMaxTtl,
      clockToleranceSeconds: config.jwtClockTolerance,
    });
  } catch (e) {
    throw new ConfigError(`${jwks ? "JWT_JWKS_FILE" : "JWT_SECRET"}: ${(e as Error).message}`);
  }
  // which path RTP to players takes, once; the native path's scheduler is the server's
  const sendPath = decideSendPath(config.fastEgress);
  const egress = sendPath.name === "native" ? new EgressScheduler(sendPath.libraries) : undefined;
  const ports = await openPorts(config);
  // datagrams the shared port already read count as "more input waiting" for the egress batch
  if (egress && ports.udpMux) egress.inputPending = () => ports.udpMux!.pending;
  const rooms = new Rooms({
    media: {
      iceServers: config.iceServers,
      udpMux: ports.udpMux,
      udpOff: !config.iceTransports.udp,
      tcp: ports.tcp,
      reflexive: ports.reflexive,
      // lite when TCP candidates are offered: werift's full agent gives up at once on a check
      // list of passive TCP candidates only (docs/ARCHITECTURE.md, "Media ports")
      iceLite: ports.tcp !== undefined,
      portRange: config.udpPortRange,
      announcedIps: config.announcedIps,
      gatherTimeout: config.iceGatherTimeout,
      loopback: config.iceLoopback,
      keyframeCacheBytes: config.keyframeCacheBytes,
      egress,
      ...options.media,
    },
    maxParticipants: config.maxParticipants,
    maxSessions: config.maxSessions,
    maxRooms: config.maxRooms,
    maxRoomSessions: config.maxRoomSessions,
    maxIdentitySessions: config.maxIdentitySessions,
    overloaded: overloadProbe(config.overloadLagMs),
    overloadWaitMs: config.overloadWait * 1000,
    sessionTimeoutMs: config.sessionTimeout * 1000,
  });
  let demo: Demo | undefined;
  if (config.demo && config.jwtSecret) {
    const room = "demo";
    const ttlSeconds = Math.min(config.jwtMaxTtl, 12 * 3600);
    const host = { sub: "host", room, role: "host" as const, ttlSeconds };
    demo = {
      room,
      hostToken: await mintToken(config.jwtSecret, host),
      participantToken: await mintToken(config.jwtSecret, {
        ...host,
        sub: "guest",
        role: "participant",
      }),
      viewerToken: await mintToken(config.jwtSecret, { ...host, sub: "viewer", role: "viewer" }),
    };
    rooms.open({ sub: "host", room, role: "host" }, room);
  }
  // Descriptors: the soft limit raised to the hard one where FFI allows (Deno does it on Unix).
  const nofile = nofileLimit();
  const lag = loopLag(); // sampled from the start, not from the first scrape
  const lifecycle = { draining: false };
  const whep = new WhepExtensions(rooms);
  rooms.changes.on((change) => {
    if (change.type !== "ended") return;
    const { session, reason } = change;
    log.info("session ended", {
      room: session.room,
      session: session.id,
      kind: session.kind,
      reason,
    });
  });
  // Each bucket holds ten seconds' worth of its rate (at least 10): bursts such as a page's
  // trickle PATCHes pass, a sustained flood does not.
  const bucket = (perMinute: number) =>
    new RateLimiter(perMinute, Math.max(10, Math.ceil(perMinute / 6)));
  const limits = {
    ip: bucket(config.rateLimitIp),
    identity: bucket(config.rateLimitIdentity),
    failed: bucket(config.rateLimitFailed),
  };
  const budget = connectionBudget(nofile, config.httpMaxConnections, config.httpFdReserve);
  // Event streams hold a connection each: at most half the connections, so signalling keeps room.
  const streams = new StreamSlots({
    server: Math.max(1, Math.min(config.sseMaxStreams, Math.floor(budget.maxConnections / 2))),
    perAddress: config.sseMaxPerAddress,
    perIdentity: config.sseMaxPerIdentity,
  });
  const negotiations = new NegotiationGate({
    server: config.negotiationsMax,
    perClient: config.negotiationsPerClient,
  });
  // cluster mode: this process registers in the Redis directory (it keeps trying while Redis is down)
  const cluster = config.redisUrl && config.publicUrl && config.jwtSecret
    ? await ClusterNode.start({
      redisUrl: config.redisUrl,
      publicUrl: config.publicUrl,
      nodeId: config.nodeId ?? new URL(config.publicUrl).host,
      secret: config.jwtSecret,
      rooms,
      log,
    })
    : undefined;
  const recordings = config.recordingsDir ? new Recordings(config.recordingsDir, log) : undefined;
  const deps: AppDeps = {
    cluster,
    recordings,
    config,
    rooms,
    whep,
    verifier,
    lifecycle,
    log,
    demo,
    limits,
    streams,
    negotiations,
    mediaPorts: () => mediaPortStats(ports),
  };
  const app = createApp(deps);
  // A reserve of descriptors for media and files stays out of the HTTP connection cap
  // (src/http/connection-limits.ts).
  log.info("http connection limit", {
    maxConnections: budget.maxConnections,
    descriptors: budget.nofile,
    reserve: budget.reserve,
    ...(nofile.known ? {} : { assumed: true, why: nofile.reason }),
  });
  let http: HttpListener;
  let own: HttpListener | undefined;
  try {
    const tls = config.tlsCertFile && config.tlsKeyFile
      ? await readTls(config.tlsCertFile, config.tlsKeyFile)
      : undefined;
    await resolvesOrThrow(config.host);
    const listener = {
      hostname: config.host,
      maxConnections: budget.maxConnections,
      headersTimeoutMs: config.httpHeadersTimeout * 1000,
      requestTimeoutMs: config.httpRequestTimeout * 1000,
      idleTimeoutMs: config.httpIdleTimeout * 1000,
      log,
      tls,
    };
    const handler = (request: Request, info: Parameters<typeof app.fetch>[1]) =>
      app.fetch(request, info);
    http = await listenHttp(
      { ...listener, port: config.port, reusePort: config.reusePort },
      handler,
    );
    // several processes on one port: this one's own port too (its PUBLIC_URL, session URLs)
    if (config.nodePort !== undefined) {
      own = await listenHttp({ ...listener, port: config.nodePort }, handler).catch(
        async (e) => {
          await http.shutdown();
          throw listenError(e, config.host, config.nodePort!);
        },
      );
    }
  } catch (e) {
    await cluster?.stop();
    await rooms.closeAll();
    egress?.close();
    whep.dispose();
    lag.stop();
    await ports.close();
    throw listenError(e, config.host, config.port);
  }
  const addr = http.addr;
  options.onListen?.(addr);
  const host = addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname;
  return {
    url: `${config.tlsCertFile ? "https" : "http"}://${host}:${addr.port}`,
    config,
    sendPath,
    ports,
    rooms,
    demo,
    beginDrain() {
      lifecycle.draining = true;
      whep.reconnectAll();
    },
    async shutdown() {
      if (!lifecycle.draining) whep.reconnectAll();
      lifecycle.draining = true;
      await cluster?.stop(); // edges end, this node's rooms and entry leave the directory
      await recordings?.stopAll("shutdown"); // files finalised before their sessions end
      await rooms.closeAll();
      egress?.close();
      whep.dispose();
      lag.stop();
      await Promise.all([http.shutdown(), own?.shutdown(), ports.close()]);
    },
  };
}

/**
 * Throws (an error {@link listenError} words) when `host` is a name that does not resolve: the
 * `node:net` listener reports that as an unhandled rejection instead of a listen error.
 */
async function resolvesOrThrow(host: string): Promise<void> {
  if (/^[\d.]+$|:/.test(host)) return; // an address, not a name
  try {
    await lookup(host);
  } catch (e) {
    throw new Error(`failed to lookup address information: ${(e as Error).message}`);
  }
}

/** A listener that cannot open, as one sentence that names the variable to change. */
export function listenError(e: unknown, host: string, port: number): ConfigError | unknown {
  const where = `${host}:${port}`;
  if (e instanceof Deno.errors.AddrInUse) {
    return new ConfigError(
      `PORT: ${port} is already in use on ${host} (another server?): stop it or set PORT to a ` +
        `free port, e.g. PORT=${port + 1}.`,
    );
  }
  if (e instanceof Deno.errors.AddrNotAvailable) {
    return new ConfigError(
      `HOST: ${host} is not an address of this machine, so nothing can listen on ${where}: ` +
        `use one of its addresses, 127.0.0.1 or 0.0.0.0 (every interface).`,
    );
  }
  if (e instanceof Deno.errors.PermissionDenied) {
    return new ConfigError(
      `PORT: listening on ${where} needs privileges this process does not have (ports below ` +
        `1024): set PORT=8080 or another port above 1023.`,
    );
  }
  if (e instanceof Deno.errors.NotCapable) {
    return new ConfigError(
      `HOST: this process may not listen on ${where} (${(e as Error).message}); start it with ` +
        `npx -y deno task start.`,
    );
  }
  if (e instanceof Error && /lookup address|Name or service|nodename|resolve/i.test(e.message)) {
    return new ConfigError(
      `HOST: "${host}" is not an address and does not resolve to one (${e.message}): use an ` +
        `address such as 127.0.0.1 or 0.0.0.0, or a name this machine can resolve.`,
    );
  }
  return e;
}

/** Reads the JWKS file, with a start-up error that says what to do. */
async function readJwks(path: string): Promise<{ keys: unknown[] }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ConfigError(`JWT_JWKS_FILE: cannot read ${path}: ${readProblem(e, path)}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError(`JWT_JWKS_FILE: ${path} is not JSON (a JWKS: {"keys": [...]}).`);
  }
}

/** Reads and checks the HTTPS certificate and key, with start-up errors that name the variable. */
async function readTls(certFile: string, keyFile: string): Promise<TlsPem> {
  const read = async (path: string, variable: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (e) {
      throw new ConfigError(`${variable}: cannot read ${path}: ${readProblem(e, path)}`);
    }
  };
  const tls = {
    cert: await read(certFile, "TLS_CERT_FILE"),
    key: await read(keyFile, "TLS_KEY_FILE"),
  };
  const problem = tlsProblem(tls);
  if (problem === "cert") {
    throw new ConfigError(
      `TLS_CERT_FILE: ${certFile} is not a PEM certificate (a file that begins with ` +
        `-----BEGIN CERTIFICATE-----).`,
    );
  }
  if (problem === "key") {
    throw new ConfigError(
      `TLS_KEY_FILE: ${keyFile} is not an unencrypted PEM private key (a file that begins with ` +
        `-----BEGIN PRIVATE KEY-----, or EC or RSA PRIVATE KEY).`,
    );
  }
  if (problem === "mismatch") {
    throw new ConfigError(
      `TLS_KEY_FILE: ${keyFile} is not the private key of the certificate in TLS_CERT_FILE ` +
        `(${certFile}): give the key the certificate was made with.`,
    );
  }
  return tls;
}

/** Why a configured file cannot be read, in words (no error class names, no stack). */
function readProblem(e: unknown, path: string): string {
  if (e instanceof Deno.errors.NotFound) return "there is no such file.";
  if (e instanceof Deno.errors.PermissionDenied) {
    return "the file system refuses it (check the file's owner and mode).";
  }
  if (e instanceof Deno.errors.IsADirectory) return "it is a directory, not a file.";
  if (e instanceof Deno.errors.NotCapable) {
    return `this process was not started with read access to it: start it with ` +
      `npx -y deno task start, which grants read access to the files the configuration names ` +
      `(or add --allow-read=static,deno.json,${path} to deno run).`;
  }
  return `${(e as Error).message}.`;
}
