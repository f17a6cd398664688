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
import { type AppDeps, createApp } from "./http/app.ts";
import { createLogger } from "./log.ts";
import { RateLimiter } from "./http/rate-limit.ts";
import { loopLag } from "./metrics/loop-lag.ts";
import type { MediaOptions } from "./media/peer.ts";

/** The demo room and tokens printed at start when no key is configured. */
export interface Demo {
  /** The demo room's name. */
  room: string;
  /** A host token for it. */
  hostToken: string;
  /** A participant token for it. */
  participantToken: string;
}

/** A started server. */
export interface Server {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The configuration it runs with. */
  config: Config;
  /** Its rooms service (for tests and shutdown). */
  rooms: Rooms;
  /** Demo tokens when in demo mode. */
  demo?: Demo;
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
  const log = createLogger(config.logLevel);
  const jwks = config.jwksFile ? await readJwks(config.jwksFile) : undefined;
  let verifier;
  try {
    verifier = createVerifier({
      secret: config.jwtSecret,
      jwks,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      maxTtlSeconds: config.jwtMaxTtl,
    });
  } catch (e) {
    throw new ConfigError(`${jwks ? "JWT_JWKS_FILE" : "JWT_SECRET"}: ${(e as Error).message}`);
  }
  const rooms = new Rooms({
    media: {
      iceServers: config.iceServers,
      portRange: config.udpPortRange,
      announcedIps: config.announcedIps,
      gatherTimeout: config.iceGatherTimeout,
      loopback: config.iceLoopback,
      keyframeCacheBytes: config.keyframeCacheBytes,
      fastEgress: config.fastEgress,
      ...options.media,
    },
    maxParticipants: config.maxParticipants,
    maxSessions: config.maxSessions,
    maxRooms: config.maxRooms,
    maxRoomSessions: config.maxRoomSessions,
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
    };
    rooms.open({ sub: "host", room, role: "host" }, room);
  }
  const lag = loopLag(); // sampled from the start, not from the first scrape
  const lifecycle = { draining: false };
  const whep = new WhepExtensions(rooms);
  const limits = {
    ip: new RateLimiter(config.rateLimitIp, Math.max(10, Math.ceil(config.rateLimitIp / 6))),
    identity: new RateLimiter(
      config.rateLimitIdentity,
      Math.max(10, Math.ceil(config.rateLimitIdentity / 6)),
    ),
  };
  const deps: AppDeps = { config, rooms, whep, verifier, lifecycle, log, demo, limits };
  const app = createApp(deps);
  const abort = new AbortController();
  let addr!: Deno.NetAddr;
  const http = Deno.serve({
    port: config.port,
    hostname: config.host,
    signal: abort.signal,
    onListen: (a) => {
      addr = a as Deno.NetAddr;
      options.onListen?.(addr);
    },
  }, app.fetch);
  const host = addr.hostname === "0.0.0.0" ? "127.0.0.1" : addr.hostname;
  return {
    url: `http://${host}:${addr.port}`,
    config,
    rooms,
    demo,
    beginDrain() {
      lifecycle.draining = true;
      whep.reconnectAll();
    },
    async shutdown() {
      if (!lifecycle.draining) whep.reconnectAll();
      lifecycle.draining = true;
      await rooms.closeAll();
      whep.dispose();
      lag.stop();
      abort.abort();
      await http.finished;
    },
  };
}

/** Reads the JWKS file, with a start-up error that says what to do. */
async function readJwks(path: string): Promise<{ keys: unknown[] }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const hint = e instanceof Deno.errors.NotCapable
      ? ` (run with --allow-read=static,deno.json,${path})`
      : "";
    throw new ConfigError(`JWT_JWKS_FILE: cannot read ${path}: ${(e as Error).message}${hint}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ConfigError(`JWT_JWKS_FILE: ${path} is not JSON`);
  }
}
