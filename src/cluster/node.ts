/**
 * This process as a node of a cluster (`REDIS_URL`): its entry in the directory, the rooms it is
 * the origin of, its edge relays, and the answers the HTTP routing asks for (whose node answers
 * a room's requests). Rooms are claimed when they open here (first WHIP POST or `PUT /rooms`)
 * and released when they close (checked every 2 s) or the node stops; a room whose origin died
 * is free again once the origin's lease lapses (the directory's leases). A directory that cannot
 * be reached refuses only what needs it: 503 with `Retry-After`, while live media goes on.
 *
 * @module
 */
import type { Rooms } from "../rooms/registry.ts";
import type { Logger } from "../log.ts";
import { DomainError } from "../errors.ts";
import { mintToken } from "../auth/tokens.ts";
import { EdgeRelays } from "./edge.ts";
import { Directory, DirectoryUnavailable } from "./directory.ts";
import { RedisLink } from "./redis.ts";
import type { ClusterRouting } from "../http/cluster-routing.ts";

/** How a node starts. */
export interface NodeOptions {
  /** `REDIS_URL`. */
  redisUrl: string;
  /** `PUBLIC_URL`. */
  publicUrl: string;
  /** `NODE_ID`. */
  nodeId: string;
  /** The cluster's HS256 secret (`JWT_SECRET`), for service tokens. */
  secret: Uint8Array;
  /** This node's rooms. */
  rooms: Rooms;
  /** Logger. */
  log: Logger;
}

/** A claimed room is released this long after it stopped being open here (a claim's grace). */
const RELEASE_GRACE_MS = 10_000;

/** This process in the cluster. */
export class ClusterNode implements ClusterRouting {
  readonly #options: NodeOptions;
  readonly #redis: RedisLink;
  readonly #directory: Directory;
  readonly #edges: EdgeRelays;
  readonly #claimed = new Map<string, number>();
  readonly #timer: ReturnType<typeof setInterval>;
  #errors = 0;
  #origins: string[] = [];
  #ticks = 0;

  private constructor(options: NodeOptions, redis: RedisLink, directory: Directory) {
    this.#options = options;
    this.#redis = redis;
    this.#directory = directory;
    this.#edges = new EdgeRelays({
      rooms: options.rooms,
      log: options.log,
      lookup: async (room) => {
        const origin = await this.#directory.lookup(room);
        return origin && origin.id !== options.nodeId ? origin.url : undefined;
      },
      serviceToken: (room) =>
        mintToken(options.secret, {
          sub: `node:${options.nodeId}`,
          room,
          role: "viewer",
          ttlSeconds: 300,
        }),
    });
    this.#timer = setInterval(() => {
      void this.#releaseClosed();
      if (this.#ticks++ % 2 === 0) void this.#listNodes();
    }, 2000);
    void this.#listNodes();
  }

  /** Connects to Redis and registers the node (it keeps trying while Redis is down). */
  static async start(options: NodeOptions): Promise<ClusterNode> {
    const redis = RedisLink.connect(options.redisUrl, { log: options.log });
    const directory = new Directory(
      redis,
      { id: options.nodeId, publicUrl: options.publicUrl },
      { load: () => options.rooms.sessions.size, log: options.log },
    );
    await directory.start(); // false while Redis is down: the node registers when it is back
    return new ClusterNode(options, redis, directory);
  }

  /** The origins (`scheme://host:port`) of the live nodes, as last listed (every 4 s). */
  nodeOrigins(): string[] {
    return this.#origins;
  }

  /** This node's id. */
  get id(): string {
    return this.#options.nodeId;
  }

  /** See {@link ClusterRouting.origin}. */
  async origin(room: string, claim: boolean): Promise<{ mine: boolean; url?: string }> {
    // a room open here that this node holds needs no directory (its lease is renewed in the
    // background): its host and players keep working while Redis is away
    if (this.#claimed.has(room) && this.#options.rooms.get(room)) return { mine: true };
    try {
      if (claim) {
        const { origin, mine } = await this.#directory.claim(room);
        if (mine) this.#claimed.set(room, performance.now());
        return { mine, url: origin.url };
      }
      const origin = await this.#directory.lookup(room);
      if (!origin) return { mine: true };
      return { mine: origin.id === this.#options.nodeId, url: origin.url };
    } catch (e) {
      throw this.#unavailable(e);
    }
  }

  /** See {@link ClusterRouting.edge}. */
  edge(origin: string, room: string, publisher?: string): Promise<void> {
    return this.#edges.ensure(origin, room, publisher);
  }

  /** Prometheus lines: rooms by role, upstream pulls, directory latency and errors. */
  metrics(): string[] {
    const rooms = this.#options.rooms;
    let origin = 0;
    let edge = 0;
    for (const name of this.#claimed.keys()) if (rooms.get(name)) origin++;
    for (const name of rooms.names()) if (this.#edges.relays(name)) edge++;
    const { commands, errors, latency } = this.#redis.stats;
    return [
      "# HELP sfu_cluster_rooms Rooms open on this node by its role for them.",
      "# TYPE sfu_cluster_rooms gauge",
      `sfu_cluster_rooms{role="origin"} ${origin}`,
      `sfu_cluster_rooms{role="edge"} ${edge}`,
      "# HELP sfu_cluster_upstream_pulls_total Publications pulled from an origin (edge relays).",
      "# TYPE sfu_cluster_upstream_pulls_total counter",
      `sfu_cluster_upstream_pulls_total ${this.#edges.stats.pulls}`,
      "# HELP sfu_cluster_upstream_active Edge relays running now.",
      "# TYPE sfu_cluster_upstream_active gauge",
      `sfu_cluster_upstream_active ${this.#edges.stats.active}`,
      "# HELP sfu_cluster_directory_commands_total Redis commands of the directory.",
      "# TYPE sfu_cluster_directory_commands_total counter",
      `sfu_cluster_directory_commands_total ${commands}`,
      "# HELP sfu_cluster_directory_errors_total Directory commands that failed or timed out.",
      "# TYPE sfu_cluster_directory_errors_total counter",
      `sfu_cluster_directory_errors_total ${errors + this.#errors}`,
      "# HELP sfu_cluster_directory_latency_ms Directory command latency, recent commands.",
      "# TYPE sfu_cluster_directory_latency_ms gauge",
      `sfu_cluster_directory_latency_ms{quantile="0.5"} ${latency.p50}`,
      `sfu_cluster_directory_latency_ms{quantile="0.99"} ${latency.p99}`,
    ];
  }

  /** Ends the edge relays, releases this node's rooms and its entry, closes Redis. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#edges.closeAll();
    await this.#directory.stop().catch(() => {});
    await this.#redis.close();
  }

  async #listNodes(): Promise<void> {
    try {
      const nodes = await this.#directory.nodes();
      this.#origins = nodes.map((n) => {
        try {
          return new URL(n.url).origin;
        } catch {
          return "";
        }
      }).filter(Boolean);
    } catch {
      // Redis away: the last list stands
    }
  }

  async #releaseClosed(): Promise<void> {
    const now = performance.now();
    for (const [room, since] of this.#claimed) {
      if (this.#options.rooms.get(room)) {
        this.#claimed.set(room, now);
        continue;
      }
      if (now - since < RELEASE_GRACE_MS) continue;
      try {
        await this.#directory.release(room);
        this.#claimed.delete(room);
      } catch {
        this.#errors++; // tried again in 2 s
      }
    }
  }

  #unavailable(e: unknown): unknown {
    if (!(e instanceof DirectoryUnavailable)) return e;
    return new DomainError(
      "unavailable",
      "the cluster directory (Redis) cannot be reached; live media goes on",
      { retryAfter: 5 },
    );
  }
}
