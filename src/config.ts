/**
 * Environment → typed, validated {@link Config}. Nothing else in the code base reads `Deno.env`.
 * A bad value stops the start with a message that names the variable and what is wrong.
 *
 * @module
 */
import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { crossChecks } from "./config-checks.ts";

/** A STUN or TURN server, as given in `ICE_SERVERS`. */
export interface IceServer {
  /** `stun:host:port`, `turn:host:port?transport=udp`, … */
  url: string;
  /** TURN username (from `turn:user:pass@host:port`). */
  username?: string;
  /** TURN credential. */
  credential?: string;
}

/** The server's whole configuration. */
export interface Config {
  /** HTTP listener port. */
  port: number;
  /** HTTP listener address (default `127.0.0.1` in demo mode, `0.0.0.0` otherwise). */
  host: string;
  /** HS256 key (bytes of `JWT_SECRET`); generated when neither it nor a JWKS is configured. */
  jwtSecret?: Uint8Array;
  /** True when the secret was generated for this run (demo mode). */
  demo: boolean;
  /** Path of a JWKS file of ES256 / EdDSA public keys. */
  jwksFile?: string;
  /** Required `iss`, when set. */
  jwtIssuer?: string;
  /** Required `aud`, when set. */
  jwtAudience?: string;
  /** Longest accepted token lifetime, seconds. */
  jwtMaxTtl: number;
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, seconds. */
  jwtClockTolerance: number;
  /** Proxies (addresses and CIDRs) whose `Forwarded` / `X-Forwarded-For` name the client. */
  trustedProxies: string[];
  /** NAT 1:1 addresses advertised in place of the host candidates' addresses. */
  announcedIps: string[];
  /**
   * The one UDP port every session's ICE and media share (0: one port the system picks);
   * undefined when `UDP_PORT_MIN`/`UDP_PORT_MAX` give each session its own port instead.
   */
  udpPort?: number;
  /** UDP port range for media, inclusive: a socket per session (instead of `udpPort`). */
  udpPortRange?: [number, number];
  /** The TCP port of ICE-TCP (RFC 6544, passive candidates; 0: one the system picks). */
  tcpPort: number;
  /** The transports whose candidates answers carry (`ICE_TRANSPORTS`). */
  iceTransports: { udp: boolean; tcp: boolean };
  /** PEM certificate chain for HTTPS (with `tlsKeyFile`); unset: plain HTTP. */
  tlsCertFile?: string;
  /** PEM private key for HTTPS (with `tlsCertFile`). */
  tlsKeyFile?: string;
  /** STUN/TURN servers used for gathering and sent in `Link` headers. */
  iceServers: IceServer[];
  /** Seconds gathering may wait on STUN/TURN servers before the answer is sent. */
  iceGatherTimeout: number;
  /** Also offer loopback host candidates (for tests and single-machine setups). */
  iceLoopback: boolean;
  /** Default participants per room. */
  maxParticipants: number;
  /** Largest accepted request body, bytes. */
  maxBodyBytes: number;
  /** Value of `Access-Control-Allow-Origin`. */
  corsOrigin: string;
  /** Whether `/metrics` is served. */
  metricsEnabled: boolean;
  /** Most live sessions on the server; more POSTs get 503. */
  maxSessions: number;
  /** New sessions wait while the event loop's lag p90 (last 2 s) is above this, ms; 0: never. */
  overloadLagMs: number;
  /** Seconds a new session waits for an overload to pass before its 503. */
  overloadWait: number;
  /** Most sessions of one host or participant identity in a room; more POSTs get 429. */
  maxIdentitySessions: number;
  /** Authenticated mutating requests (POST, PATCH, PUT, DELETE) per minute per client address. */
  rateLimitIp: number;
  /** Mutating requests per minute per host or participant identity (role and `sub`). */
  rateLimitIdentity: number;
  /** Unauthenticated or refused (401, 403) requests per minute per client address. */
  rateLimitFailed: number;
  /** Most open rooms on the server. */
  maxRooms: number;
  /** Most sessions in one room. */
  maxRoomSessions: number;
  /** Seconds of silence (no consent check, no media) after which a session is ended. */
  sessionTimeout: number;
  /** Bytes of keyframe cache per video layer (0 turns the cache off). */
  keyframeCacheBytes: number;
  /** Send RTP to players through the native path when it can be opened (FAST_EGRESS=auto). */
  fastEgress: boolean;
  /** Most open HTTP connections (before the descriptor reserve lowers it). */
  httpMaxConnections: number;
  /** Descriptors kept for media and files; unset: half the limit, at least 256. */
  httpFdReserve?: number;
  /** Seconds for a request's line and headers to arrive. */
  httpHeadersTimeout: number;
  /** Seconds for a whole request (headers and body) to arrive. */
  httpRequestTimeout: number;
  /** Seconds of silence allowed on a kept-alive connection between requests. */
  httpIdleTimeout: number;
  /** Most open event streams (room and WHEP) on the server. */
  sseMaxStreams: number;
  /** Most open event streams per client address. */
  sseMaxPerAddress: number;
  /** Most open event streams per host or participant identity. */
  sseMaxPerIdentity: number;
  /** Offers (WHIP/WHEP POSTs) negotiated at once on the server; more wait in line. */
  negotiationsMax: number;
  /** Offers negotiated at once per client address and per token; more wait in line. */
  negotiationsPerClient: number;
  /** `frame-ancestors` of the pages' Content-Security-Policy. */
  frameAncestors: string;
  /** Redis of cluster mode (`REDIS_URL`); unset: one process, nothing shared. */
  redisUrl?: string;
  /** The base URL clients and other nodes reach this node at (cluster mode). */
  publicUrl?: string;
  /** This node's name in the cluster directory (default: host name and port). */
  nodeId?: string;
  /** Share `port` with other processes on this machine (`SO_REUSEPORT`). */
  reusePort: boolean;
  /** A second HTTP port for this process alone (its `PUBLIC_URL` when `port` is shared). */
  nodePort?: number;
  /** Folder of recordings (`RECORDINGS_DIR`); unset: recording is off. */
  recordingsDir?: string;
  /** Log level. */
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
}

const port = z.coerce.number().int().min(0).max(65535);
const ip = z.union([z.ipv4(), z.ipv6()]);
const bool = z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) =>
  ["true", "1", "yes"].includes(v)
);

/**
 * The default UDP and TCP port of media (`UDP_PORT`, `TCP_PORT`): the port MediaMTX uses for
 * the same purpose, so firewall rules written for it carry over.
 */
export const DEFAULT_MEDIA_PORT = 8189;

/** The shortest HS256 secret accepted, in bytes: as long as the hash (RFC 7518 §3.2). */
export const HS256_MIN_SECRET_BYTES = 32;

/**
 * What is wrong with `secret` as an HS256 key (its UTF-8 bytes), or `undefined` when it will do.
 * The server (`JWT_SECRET`) and the token CLI say the same words.
 */
export function hs256SecretProblem(secret: string): string | undefined {
  const bytes = new TextEncoder().encode(secret).length;
  if (bytes >= HS256_MIN_SECRET_BYTES) return undefined;
  return `must be at least ${HS256_MIN_SECRET_BYTES} bytes (RFC 7518 §3.2: an HS256 key is as ` +
    `long as the hash), got ${bytes}; e.g. openssl rand -base64 32`;
}

/**
 * Parses a duration setting such as `24h`, `30m`, `90s`, `2d` or a plain number of seconds
 * (zero allowed; spaces around the unit too), with {@link parseDuration}, in the settings' words.
 */
export function parseSeconds(text: string): number {
  try {
    return parseDuration(text.trim().replace(/^(\d+)\s+/, "$1"), { allowZero: true });
  } catch {
    throw new Error(`"${text}" is not a duration (examples: 3600, 90s, 30m, 24h, 2d)`);
  }
}

/** Parses one `ICE_SERVERS` entry: `stun:host:port` or `turn:user:pass@host:port?transport=udp`. */
export function parseIceServer(entry: string): IceServer {
  const m = /^(stuns?|turns?):(?:([^:@]+):([^@]+)@)?([^?]+)(\?transport=(udp|tcp))?$/.exec(entry);
  if (!m) throw new Error(`"${entry}" is not a stun: or turn: URL`);
  const [, scheme, username, credential, hostPort, query = ""] = m;
  if (scheme.startsWith("turn") && !username) {
    throw new Error(`"${entry}": a TURN server needs credentials (turn:user:pass@host:port)`);
  }
  return { url: `${scheme}:${hostPort}${query}`, username, credential };
}

const schema = z.object({
  PORT: port.default(8080),
  HOST: z.string().min(1).optional(),
  JWT_SECRET: z.string().refine((v) => hs256SecretProblem(v) === undefined, {
    error: (issue) => hs256SecretProblem(String(issue.input)),
  }).optional(),
  JWT_JWKS_FILE: z.string().min(1).optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  JWT_MAX_TTL: z.string().default("24h").transform((v, ctx) => {
    try {
      const s = parseSeconds(v);
      if (s <= 0) throw new Error("must be positive");
      return s;
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  }),
  JWT_CLOCK_TOLERANCE: z.string().default("30s").transform((v, ctx) => {
    try {
      const s = parseSeconds(v);
      if (s > 600) throw new Error("must be at most 10 minutes (600 s)");
      return s;
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  }),
  TRUSTED_PROXIES: z.string().optional().transform((v) =>
    v ? v.split(",").map((s) => s.trim()).filter(Boolean) : []
  ).pipe(z.array(z.union([ip, z.cidrv4(), z.cidrv6()]))),
  ANNOUNCED_IPS: z.string().optional().transform((v) =>
    v ? v.split(",").map((s) => s.trim()).filter(Boolean) : []
  ).pipe(z.array(ip)),
  UDP_PORT: port.optional(),
  TCP_PORT: port.default(DEFAULT_MEDIA_PORT),
  ICE_TRANSPORTS: z.string().default("udp,tcp").transform((v, ctx) => {
    const names = v.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    const bad = names.filter((n) => n !== "udp" && n !== "tcp");
    if (bad.length > 0 || names.length === 0) {
      ctx.addIssue({ code: "custom", message: 'must be "udp,tcp", "udp" or "tcp"' });
      return z.NEVER;
    }
    return { udp: names.includes("udp"), tcp: names.includes("tcp") };
  }),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  UDP_PORT_MIN: port.optional(),
  UDP_PORT_MAX: port.optional(),
  ICE_SERVERS: z.string().optional().transform((v, ctx) => {
    const entries = v ? v.split(",").map((s) => s.trim()).filter(Boolean) : [];
    try {
      return entries.map(parseIceServer);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  }),
  ICE_GATHER_TIMEOUT: z.coerce.number().positive().max(30).default(2),
  ICE_LOOPBACK: bool.default(false),
  MAX_PARTICIPANTS: z.coerce.number().int().min(0).max(10_000).default(1),
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(10_000_000).default(64 * 1024),
  CORS_ORIGIN: z.string().min(1).default("*"),
  METRICS: bool.default(true),
  MAX_SESSIONS: z.coerce.number().int().min(1).max(1_000_000).default(2000),
  RATE_LIMIT_IP: z.coerce.number().int().min(1).max(10_000_000).default(1200),
  RATE_LIMIT_IDENTITY: z.coerce.number().int().min(1).max(10_000_000).default(600),
  RATE_LIMIT_FAILED: z.coerce.number().int().min(1).max(10_000_000).default(60),
  MAX_IDENTITY_SESSIONS: z.coerce.number().int().min(1).max(1_000_000).default(64),
  MAX_ROOMS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  MAX_ROOM_SESSIONS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  SESSION_TIMEOUT: z.coerce.number().min(1).max(3600).default(10),
  OVERLOAD_LAG_MS: z.coerce.number().int().min(0).max(60_000).default(200),
  OVERLOAD_WAIT: z.coerce.number().min(0).max(60).default(5),
  KEYFRAME_CACHE_BYTES: z.coerce.number().int().min(0).max(256 * 1024 * 1024).default(
    4 * 1024 * 1024,
  ),
  FAST_EGRESS: z.enum(["auto", "off"]).default("auto"),
  HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(16).max(1_000_000).default(10_000),
  HTTP_FD_RESERVE: z.coerce.number().int().min(64).max(1_000_000).optional(),
  HTTP_HEADERS_TIMEOUT: z.coerce.number().min(1).max(300).default(10),
  HTTP_REQUEST_TIMEOUT: z.coerce.number().min(1).max(3600).default(30),
  HTTP_IDLE_TIMEOUT: z.coerce.number().min(1).max(3600).default(5),
  SSE_MAX_STREAMS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  SSE_MAX_PER_ADDRESS: z.coerce.number().int().min(1).max(1_000_000).default(50),
  SSE_MAX_PER_IDENTITY: z.coerce.number().int().min(1).max(1_000_000).default(8),
  NEGOTIATIONS_MAX: z.coerce.number().int().min(1).max(10_000).default(16),
  NEGOTIATIONS_PER_CLIENT: z.coerce.number().int().min(1).max(10_000).default(4),
  FRAME_ANCESTORS: z.string().min(1).regex(/^[^;,\r\n]+$/, "one CSP source list, no ';' or ','")
    .default("*"),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: "must be a redis://host:port URL" })
    .optional(),
  PUBLIC_URL: z.url({ protocol: /^https?$/, error: "must be an http(s):// URL" }).optional()
    .transform((v) => v?.replace(/\/+$/, "")),
  REUSE_PORT: bool.default(false),
  NODE_PORT: port.optional(),
  NODE_ID: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, "1 to 64 letters, digits, . _ : -")
    .optional(),
  RECORDINGS_DIR: z.string().min(1).refine((v) => !v.includes("\0"), "must be a path")
    .optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
});

/** Variables whose values never appear in an error message. */
const SECRET = new Set(["JWT_SECRET"]);

/** The names of every variable {@link loadConfig} reads (for `--allow-env`). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.shape);

/** Thrown by {@link loadConfig}; its message lists every bad variable. */
export class ConfigError extends Error {
  /** @param message one line per bad variable. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Builds the configuration from an environment lookup (by default `Deno.env.get`).
 * Empty strings count as unset.
 */
export function loadConfig(
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): Config {
  const raw: Record<string, string> = {};
  for (const name of CONFIG_VARIABLES) {
    const value = env(name);
    if (value !== undefined && value !== "") raw[name] = value;
  }
  const parsed = schema.safeParse(raw);
  const lines = parsed.success ? [] : parsed.error.issues.map((i) => {
    const name = String(i.path[0] ?? "config");
    const given = raw[name] === undefined || SECRET.has(name) ? "" : ` (got "${raw[name]}")`;
    return `${name}: ${i.message}${given}`;
  });
  lines.push(...crossChecks(raw));
  if (!parsed.success || lines.length > 0) {
    throw new ConfigError(`invalid configuration:\n  ${lines.join("\n  ")}`);
  }
  const v = parsed.data;
  const demo = !v.JWT_SECRET && !v.JWT_JWKS_FILE;
  const secret = v.JWT_SECRET ??
    (demo ? btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(24)))) : undefined);
  return {
    port: v.PORT,
    // Demo mode shares host tokens with whoever can reach the pages: loopback unless HOST says so.
    host: v.HOST ?? (demo ? "127.0.0.1" : "0.0.0.0"),
    jwtSecret: secret === undefined ? undefined : new TextEncoder().encode(secret),
    demo,
    jwksFile: v.JWT_JWKS_FILE,
    jwtIssuer: v.JWT_ISSUER,
    jwtAudience: v.JWT_AUDIENCE,
    jwtMaxTtl: v.JWT_MAX_TTL,
    jwtClockTolerance: v.JWT_CLOCK_TOLERANCE,
    trustedProxies: v.TRUSTED_PROXIES,
    announcedIps: v.ANNOUNCED_IPS,
    udpPort: v.UDP_PORT_MIN === undefined ? v.UDP_PORT ?? DEFAULT_MEDIA_PORT : undefined,
    udpPortRange: v.UDP_PORT_MIN === undefined ? undefined : [v.UDP_PORT_MIN, v.UDP_PORT_MAX!],
    tcpPort: v.TCP_PORT,
    iceTransports: v.ICE_TRANSPORTS,
    tlsCertFile: v.TLS_CERT_FILE,
    tlsKeyFile: v.TLS_KEY_FILE,
    iceServers: v.ICE_SERVERS,
    iceGatherTimeout: v.ICE_GATHER_TIMEOUT,
    iceLoopback: v.ICE_LOOPBACK,
    maxParticipants: v.MAX_PARTICIPANTS,
    maxBodyBytes: v.MAX_BODY_BYTES,
    corsOrigin: v.CORS_ORIGIN,
    metricsEnabled: v.METRICS,
    maxSessions: v.MAX_SESSIONS,
    overloadLagMs: v.OVERLOAD_LAG_MS,
    overloadWait: v.OVERLOAD_WAIT,
    keyframeCacheBytes: v.KEYFRAME_CACHE_BYTES,
    fastEgress: v.FAST_EGRESS === "auto",
    sessionTimeout: v.SESSION_TIMEOUT,
    rateLimitIp: v.RATE_LIMIT_IP,
    rateLimitIdentity: v.RATE_LIMIT_IDENTITY,
    rateLimitFailed: v.RATE_LIMIT_FAILED,
    maxIdentitySessions: v.MAX_IDENTITY_SESSIONS,
    maxRooms: v.MAX_ROOMS,
    maxRoomSessions: v.MAX_ROOM_SESSIONS,
    httpMaxConnections: v.HTTP_MAX_CONNECTIONS,
    httpFdReserve: v.HTTP_FD_RESERVE,
    httpHeadersTimeout: v.HTTP_HEADERS_TIMEOUT,
    httpRequestTimeout: v.HTTP_REQUEST_TIMEOUT,
    httpIdleTimeout: v.HTTP_IDLE_TIMEOUT,
    sseMaxStreams: v.SSE_MAX_STREAMS,
    sseMaxPerAddress: v.SSE_MAX_PER_ADDRESS,
    sseMaxPerIdentity: v.SSE_MAX_PER_IDENTITY,
    negotiationsMax: v.NEGOTIATIONS_MAX,
    negotiationsPerClient: v.NEGOTIATIONS_PER_CLIENT,
    frameAncestors: v.FRAME_ANCESTORS,
    redisUrl: v.REDIS_URL,
    publicUrl: v.PUBLIC_URL,
    nodeId: v.NODE_ID,
    reusePort: v.REUSE_PORT,
    nodePort: v.NODE_PORT,
    recordingsDir: v.RECORDINGS_DIR,
    logLevel: v.LOG_LEVEL,
  };
}
