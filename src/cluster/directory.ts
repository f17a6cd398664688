/**
 * The cluster's room directory on Redis: which nodes are alive (each holds a lease on its own
 * entry) and which node is the origin of each room (a lease on the room's key, refreshed by its
 * origin). A room whose origin's lease lapsed counts as free. Keys and scripts: `keys.ts`.
 *
 * Every operation returns a promise and never throws synchronously; a Redis failure rejects with
 * {@link DirectoryUnavailable}. The refresh loops keep trying through an outage: when Redis comes
 * back the node writes its entry again and takes back the rooms nobody else took meanwhile
 * (`room-lost` events name those someone else took).
 *
 * @module
 */
import { DomainError } from "../errors.ts";
import { Emitter } from "../events.ts";
import type { Logger } from "../log.ts";
import {
  CLAIM,
  Keys,
  LOOKUP,
  MAX_ROOM_NAME,
  type NodeEntry,
  ownerId,
  parseNode,
  RELEASE,
} from "./keys.ts";
import { Loop } from "./loop.ts";
import { DirectoryUnavailable, type RedisLink } from "./redis.ts";

export type { NodeEntry } from "./keys.ts";
export { DirectoryUnavailable } from "./redis.ts";

/** A room's origin: the node that holds its publishers. */
export interface Origin {
  /** The node's id. */
  id: string;
  /** The node's public base URL. */
  url: string;
}

/** The outcome of {@link Directory.claim}. */
export interface Claim {
  /** The room's origin: this node when `mine`, else the node that holds it. */
  origin: Origin;
  /** True when this node is (now) the room's origin. */
  mine: boolean;
}

/** What the directory tells its owner, besides the results of its calls. */
export type DirectoryEvent =
  /** The node's entry was written after a start or an outage (not on every refresh). */
  | { type: "registered" }
  /** A room this node held was found taken by another node (after an outage). */
  | { type: "room-lost"; room: string; origin: Origin }
  /** A refresh failed; the loop keeps trying. Emitted for every failed refresh. */
  | { type: "refresh-failed"; error: DirectoryUnavailable };

/** This node, as the directory publishes it. */
export interface DirectoryNode {
  /** A stable id, unique in the cluster. */
  id: string;
  /** The base URL other nodes and clients reach this node at. */
  publicUrl: string;
}

/** Lease times and hooks; every field has a default. */
export interface DirectoryOptions {
  /** TTL of the node's entry, ms (default 10 000). */
  nodeLeaseMs?: number;
  /** How often the node's entry (and load) is written again, ms (default 3000). */
  nodeRefreshMs?: number;
  /** TTL of a room's claim, ms (default 15 000). */
  roomLeaseMs?: number;
  /** How often the node's claims are renewed, ms (default 5000). */
  roomRefreshMs?: number;
  /** Put before every key (default `sfu:`), to share one Redis database between clusters. */
  prefix?: string;
  /** The node's load, published with its entry (default 0); a throw counts as 0. */
  load?: () => number;
  /** How long `start()` waits for the Redis connection before its first write, ms (default 2000). */
  readyTimeoutMs?: number;
  /** Where changes of registration are logged. */
  log?: Logger;
}

/** Reply of the CLAIM script: owner, node JSON, per room. */
type ClaimReply = string[];

/** The directory of one node. See the module documentation. */
export class Directory {
  /** Registration changes, lost rooms and failed refreshes. */
  readonly events: Emitter<DirectoryEvent> = new Emitter<DirectoryEvent>();
  readonly #redis: RedisLink;
  readonly #self: DirectoryNode;
  readonly #me: string;
  readonly #keys: Keys;
  readonly #nodeLeaseMs: number;
  readonly #roomLeaseMs: number;
  readonly #readyTimeoutMs: number;
  readonly #load: () => number;
  readonly #log?: Logger;
  readonly #startedAt = Date.now();
  readonly #nodeLoop: Loop;
  readonly #roomLoop: Loop;
  /** The rooms this node holds: name → key. */
  readonly #rooms = new Map<string, string>();
  #state: "new" | "started" | "stopped" = "new";
  #registered = false;
  #stopping: Promise<void> | undefined;
  #offReady: (() => void) | undefined;

  /** @param redis the node's Redis link; @param self this node; @param options leases, hooks. */
  constructor(redis: RedisLink, self: DirectoryNode, options: DirectoryOptions = {}) {
    this.#redis = redis;
    this.#self = { id: self.id, publicUrl: self.publicUrl };
    this.#keys = new Keys(options.prefix);
    this.#me = encodeURIComponent(self.id);
    this.#nodeLeaseMs = options.nodeLeaseMs ?? 10_000;
    this.#roomLeaseMs = options.roomLeaseMs ?? 15_000;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 2000;
    this.#load = options.load ?? (() => 0);
    this.#log = options.log;
    this.#nodeLoop = new Loop(options.nodeRefreshMs ?? 3000, () => this.#refreshNode());
    this.#roomLoop = new Loop(options.roomRefreshMs ?? 5000, () => this.#refreshRooms());
  }

  /** True after the last write of the node's entry succeeded (false during an outage). */
  get registered(): boolean {
    return this.#registered;
  }

  /** The rooms this node holds, by name (NFC). */
  ownedRooms(): string[] {
    return [...this.#rooms.keys()];
  }

  /**
   * Starts the refresh loops and writes the node's entry, waiting at most `readyTimeoutMs`
   * (option, default 2000) for the Redis connection first. Resolves true when the node is
   * registered, false when Redis could not be reached: the loops run on all the same and register
   * the node as soon as Redis answers (`registered` event). Never rejects for Redis; rejects with
   * {@link DirectoryUnavailable} after `stop()`.
   */
  async start(): Promise<boolean> {
    if (this.#state === "stopped") throw this.#stoppedError();
    if (this.#state === "new") {
      this.#state = "started";
      this.#nodeLoop.start();
      this.#roomLoop.start();
      // a new connection after an outage: register again and take the rooms back, now
      this.#offReady = this.#redis.ready.on(() => {
        this.#nodeLoop.trigger();
        this.#roomLoop.trigger();
      });
    }
    await this.#redis.whenReady(this.#readyTimeoutMs);
    try {
      await this.#writeNode();
      return true;
    } catch {
      return false;
    }
  }

  /** The live nodes (those whose lease has not lapsed), this one included, sorted by id. */
  nodes(): Promise<NodeEntry[]> {
    return this.#nodes();
  }

  /**
   * Claims `room` for this node when it is free, already ours, or its origin's lease lapsed;
   * otherwise tells which node holds it. Rejects with a `bad-room-name` {@link DomainError} for an
   * empty or over-long name, {@link DirectoryUnavailable} when Redis fails or after `stop()`.
   */
  claim(room: string): Promise<Claim> {
    return this.#claim(room);
  }

  /** The live origin of `room`, or undefined when the room is free (or its origin is gone). */
  lookup(room: string): Promise<Origin | undefined> {
    return this.#lookup(room);
  }

  /**
   * Gives `room` up: deletes its key if this node still holds it (resolves true then). The node
   * stops renewing it first, so even when Redis is down the claim lapses with its lease.
   */
  release(room: string): Promise<boolean> {
    return this.#release(room);
  }

  /**
   * Stops the loops, then deletes every room key this node holds and its own entry. Rejects with
   * {@link DirectoryUnavailable} when Redis fails (the leases then lapse by themselves).
   * Idempotent; the directory cannot be started again.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#state = "stopped";
    this.#offReady?.();
    await Promise.all([this.#nodeLoop.stop(), this.#roomLoop.stop()]);
    const keys = [...this.#rooms.values()];
    this.#rooms.clear();
    this.#registered = false;
    const nodeKey = this.#keys.node(this.#self.id);
    const results = await Promise.allSettled([
      keys.length === 0 ? Promise.resolve(0) : this.#redis.run(
        "EVAL release",
        (c) => c.eval(RELEASE, { keys, arguments: [this.#me] }),
      ),
      this.#redis.run("DEL", (c) => c.del(nodeKey)),
    ]);
    for (const result of results) if (result.status === "rejected") throw result.reason;
  }

  async #claim(raw: string): Promise<Claim> {
    const [room, key] = this.#roomKey(raw);
    if (this.#state !== "started") throw this.#notStartedError();
    const reply = await this.#runClaim([key]);
    if (this.#state !== "started") throw this.#stoppedError();
    const [owner, json] = reply;
    if (owner === this.#me) {
      this.#rooms.set(room, key);
      return { origin: this.#origin(), mine: true };
    }
    this.#rooms.delete(room);
    return { origin: this.#originOf(owner, json), mine: false };
  }

  async #lookup(room: string): Promise<Origin | undefined> {
    const [, key] = this.#roomKey(room);
    const reply = await this.#redis.run(
      "EVAL lookup",
      (c) => c.eval(LOOKUP, { keys: [key], arguments: [this.#keys.nodePrefix] }),
    ) as [string, string] | null;
    if (reply === null) return undefined;
    const [owner, json] = reply;
    return owner === this.#me ? this.#origin() : this.#originOf(owner, json);
  }

  async #release(raw: string): Promise<boolean> {
    const [room, key] = this.#roomKey(raw);
    this.#rooms.delete(room);
    const deleted = await this.#redis.run(
      "EVAL release",
      (c) => c.eval(RELEASE, { keys: [key], arguments: [this.#me] }),
    );
    return deleted === 1;
  }

  async #nodes(): Promise<NodeEntry[]> {
    const keys = new Set<string>();
    let cursor = "0";
    do {
      const page = await this.#redis.run(
        "SCAN",
        (c) => c.scan(cursor, { MATCH: this.#keys.nodePattern, COUNT: 200 }),
      );
      cursor = String(page.cursor);
      for (const key of page.keys) keys.add(String(key));
    } while (cursor !== "0");
    if (keys.size === 0) return [];
    const values = await this.#redis.run("MGET", (c) => c.mGet([...keys]));
    const nodes: NodeEntry[] = [];
    for (const value of values) {
      const node = value === null ? undefined : parseNode(String(value));
      if (node !== undefined) nodes.push(node);
    }
    return nodes.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  }

  /** Writes the node's entry with a fresh lease; tracks and reports registration. */
  async #writeNode(): Promise<void> {
    try {
      await this.#redis.run(
        "SET node",
        (c) =>
          c.set(this.#keys.node(this.#self.id), this.#nodeJson(), {
            expiration: { type: "PX", value: this.#nodeLeaseMs },
          }),
      );
    } catch (error) {
      this.#failed(error);
      throw error;
    }
    if (!this.#registered && this.#state === "started") {
      this.#registered = true;
      this.#log?.info("cluster node registered", { node: this.#self.id });
      this.events.emit({ type: "registered" });
      // back after an outage (or a lapse): take the rooms back now, not at the next tick
      if (this.#rooms.size > 0) this.#roomLoop.trigger();
    }
  }

  #refreshNode(): Promise<void> {
    return this.#writeNode();
  }

  /** Renews (or takes back) every room this node holds; reports the ones another node took. */
  async #refreshRooms(): Promise<void> {
    if (this.#rooms.size === 0) return;
    const rooms = [...this.#rooms];
    let reply: ClaimReply;
    try {
      reply = await this.#runClaim(rooms.map(([, key]) => key));
    } catch (error) {
      this.#failed(error);
      return;
    }
    rooms.forEach(([room, key], i) => {
      const owner = reply[2 * i];
      if (owner === this.#me || this.#rooms.get(room) !== key) return;
      this.#rooms.delete(room);
      const origin = this.#originOf(owner, reply[2 * i + 1]);
      this.#log?.warn("cluster room taken by another node", { room, origin: origin.id });
      this.events.emit({ type: "room-lost", room, origin });
    });
  }

  #runClaim(roomKeys: string[]): Promise<ClaimReply> {
    return this.#redis.run("EVAL claim", (c) =>
      c.eval(CLAIM, {
        keys: [this.#keys.node(this.#self.id), ...roomKeys],
        arguments: [
          this.#me,
          String(this.#roomLeaseMs),
          this.#keys.nodePrefix,
          this.#nodeJson(),
          String(this.#nodeLeaseMs),
        ],
      })) as Promise<ClaimReply>;
  }

  #failed(error: unknown): void {
    if (this.#registered) this.#log?.warn("cluster node unregistered", { node: this.#self.id });
    this.#registered = false;
    if (error instanceof DirectoryUnavailable && this.#state === "started") {
      this.events.emit({ type: "refresh-failed", error });
    }
  }

  #nodeJson(): string {
    let load = 0;
    try {
      const value = this.#load();
      if (Number.isFinite(value)) load = value;
    } catch {
      // a broken load callback must not unregister the node
    }
    const entry: NodeEntry = {
      id: this.#self.id,
      url: this.#self.publicUrl,
      load,
      startedAt: this.#startedAt,
    };
    return JSON.stringify(entry);
  }

  #origin(): Origin {
    return { id: this.#self.id, url: this.#self.publicUrl };
  }

  #originOf(owner: string, json: string): Origin {
    const node = parseNode(json);
    return node ? { id: node.id, url: node.url } : { id: ownerId(owner), url: "" };
  }

  /** The key of `room`, or throws `bad-room-name` (inside the async callers: a rejection). */
  #roomKey(room: string): [name: string, key: string] {
    const name = typeof room === "string" ? room.normalize("NFC") : "";
    const length = [...name].length;
    if (length < 1 || length > MAX_ROOM_NAME) {
      throw new DomainError("bad-room-name", `a room name has 1 to ${MAX_ROOM_NAME} characters`);
    }
    return [name, this.#keys.room(name)];
  }

  #notStartedError(): Error {
    return this.#state === "stopped"
      ? this.#stoppedError()
      : new Error("Directory.start() must be called before claim()");
  }

  #stoppedError(): DirectoryUnavailable {
    return new DirectoryUnavailable("the directory is stopped");
  }
}
