/**
 * Cluster mode, the edge side: a WHEP POST for a room whose origin is another node makes this
 * node an edge for that publication. The first such POST opens a mirror of the room here (same
 * host identity) and pulls the publication (`Rooms.pull`): this node plays it from the origin
 * with WHEP, authenticated by a short-lived viewer token signed with the cluster's secret, and
 * the pull publishes into the mirror under the publisher's identity, so local players get
 * everything a player on the origin gets (keyframe cache, NACK history, PLI upstream; a
 * simulcast publication is pulled layer by layer, so they choose among its layers too). Later
 * POSTs for the same publication join it. Some seconds after its last local player leaves the
 * relay is released (its upstream sessions end); when the origin ends the
 * upstream session because the room closed there, the mirror closes with its last relay and its
 * players are told as on the origin (`room-closed`); when the origin dies (the upstream fails or
 * goes silent, and the origin does not answer), the mirror stays and its players wait — their
 * feed inactive — until the room has a new origin (the host publishing again, on any node),
 * which the edge then pulls from; after a minute without one the mirror closes.
 *
 * @module
 */
import type { Rooms } from "../rooms/registry.ts";
import type { Session } from "../sessions/session.ts";
import { DomainError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Principal } from "../auth/rights.ts";
import type { RoomView } from "../rooms/room.ts";

/** What the edge side needs. */
export interface EdgeOptions {
  /** This node's rooms. */
  rooms: Rooms;
  /** A viewer token for `room`, signed with the cluster's secret, naming this node. */
  serviceToken(room: string): Promise<string>;
  /** Logger. */
  log: Logger;
  /** The room's origin now (the directory): its URL, or undefined when none or this node. */
  lookup(room: string): Promise<string | undefined>;
  /** Time a relay with no local player is kept, ms. */
  idleMs?: number;
}

/** An upstream that went silent this long counts as ended (an origin that died), ms. */
const SILENCE_MS = 5_000;
/** How long a mirror whose origin died waits for the room's next origin, ms. */
const ORPHAN_MS = 60_000;

/** A mirror whose origin died: its players wait for the room's next origin. */
interface Orphan {
  room: string;
  publisher?: string;
  host: Principal;
  since: number;
  asking: boolean;
}

interface Active {
  ready: Promise<void>;
  room: string;
  publisher?: string;
  origin: string;
  /** The WHEP sessions on the origin (one per pulled layer). */
  upstreamUrls: string[];
  idleSince?: number;
  host?: Principal;
  /** The mirror's session that the pull publishes with. */
  session?: Session;
  /** When the origin's silence was last explained (a paused publisher), ms. */
  heardAt?: number;
  /** A silence check is running. */
  checking?: boolean;
}

/** How long the pull of `a` has had no packet at `now`: 0 before its first one, ms. */
function silentFor(a: Active, now: number): number {
  const media = a.session?.kind === "whip" ? a.session.media : undefined;
  if (media?.lastPacketAt === undefined) return 0;
  return now - Math.max(media.lastPacketAt, a.heardAt ?? 0);
}

/** Counters of the edge side (for `/metrics`). */
export interface EdgeStats {
  /** Relays started (upstream pulls). */
  pulls: number;
  /** Relays running now. */
  active: number;
}

/** The relays of this node. */
export class EdgeRelays {
  readonly #options: EdgeOptions;
  readonly #active = new Map<string, Active>();
  readonly #orphans = new Map<string, Orphan>();
  readonly #timer: ReturnType<typeof setInterval>;
  /** Relays started so far. */
  pulls = 0;

  /** Starts the idle check. */
  constructor(options: EdgeOptions) {
    this.#options = options;
    this.#timer = setInterval(() => this.#sweep(), 1000);
  }

  /** The counters. */
  get stats(): EdgeStats {
    return { pulls: this.pulls, active: this.#active.size };
  }

  /** Whether this node relays something of `room`. */
  relays(room: string): boolean {
    for (const a of this.#active.values()) if (a.room === room) return true;
    return false;
  }

  /**
   * Makes sure `publisher`'s publication (the host's by default) of `room`, whose origin is at
   * `origin`, is relayed here; resolves once the mirror room and its local publication exist.
   */
  ensure(origin: string, room: string, publisher?: string): Promise<void> {
    const key = `${origin}\0${room}\0${publisher ?? ""}`;
    const running = this.#active.get(key);
    if (running) return running.ready;
    const active: Active = { ready: Promise.resolve(), room, publisher, origin, upstreamUrls: [] };
    active.ready = this.#start(active, key).catch(async (e) => {
      this.#active.delete(key);
      await this.#stop(active, false);
      throw e;
    });
    this.#active.set(key, active);
    return active.ready;
  }

  /**
   * The origin ended the upstream, or it went silent: if the room closed there, the mirror
   * closes; if the origin cannot be reached (it died), the mirror stays and its players wait
   * (their feed is inactive) for the room's next origin — the host publishing again, here or on
   * another node — for up to a minute.
   */
  async #upstreamEnded(a: Active): Promise<void> {
    const state = await this.#roomState(a.origin, a.room);
    await this.#stop(a, state === "closed");
    if (state === "closed" || !a.host) return;
    const key = `${a.room}\0${a.publisher ?? ""}`;
    this.#orphans.set(key, {
      room: a.room,
      publisher: a.publisher,
      host: a.host,
      since: performance.now(),
      asking: false,
    });
    this.#options.log.warn(
      state === "open"
        ? "edge relay ended while the room is open on its origin: pulling again"
        : "edge relay lost its origin: waiting for the room's next origin",
      { room: a.room, origin: a.origin },
    );
  }

  /** Whether `room` is open on `origin`, closed there, or the origin does not answer. */
  async #roomState(origin: string, room: string): Promise<"open" | "closed" | "unreachable"> {
    const view = await this.#roomView(origin, room, AbortSignal.timeout(2000));
    return typeof view === "string" ? view : view.open ? "open" : "closed";
  }

  /** The room's state on `origin` (`GET /rooms/{room}` with the service token). */
  async #roomView(
    origin: string,
    room: string,
    signal?: AbortSignal,
  ): Promise<RoomView | "closed" | "unreachable"> {
    try {
      const token = await this.#options.serviceToken(room);
      const r = await fetch(`${origin}/rooms/${encodeURIComponent(room)}`, {
        headers: { authorization: `Bearer ${token}` },
        signal,
      });
      if (!r.ok) {
        await r.body?.cancel();
        return r.status >= 500 ? "unreachable" : "closed";
      }
      return await r.json() as RoomView;
    } catch {
      return "unreachable";
    }
  }

  /** Ends every relay (shutdown). */
  async closeAll(): Promise<void> {
    clearInterval(this.#timer);
    this.#orphans.clear();
    const all = [...this.#active.values()];
    this.#active.clear();
    await Promise.all(all.map((a) => this.#stop(a, true)));
  }

  async #start(a: Active, key: string): Promise<void> {
    const { rooms, serviceToken, log } = this.#options;
    const token = await serviceToken(a.room);
    const view = await this.#roomView(a.origin, a.room);
    if (typeof view === "string" || !view.open || !view.host) {
      throw new DomainError("not-found", "the room is not open on its origin node");
    }
    a.host = { sub: view.host, role: "host", room: a.room } as Principal;
    if (!rooms.get(a.room)) rooms.open(a.host, a.room, 10_000);
    const publisher = a.publisher ?? view.host;
    const who = {
      sub: publisher,
      role: publisher === view.host ? "host" : "participant",
      room: a.room,
    } as Principal;
    const rids = view.publications?.find((p) => p.publisher === publisher)?.layers ?? [];
    const session = await rooms.pull(who, a.room, async (offer, layer) => {
      const query = new URLSearchParams();
      if (a.publisher !== undefined) query.set("publisher", a.publisher);
      if (layer !== undefined) query.set("layer", layer);
      const search = query.size ? `?${query}` : "";
      const response = await fetch(`${a.origin}/whep/${encodeURIComponent(a.room)}${search}`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/sdp" },
        body: offer,
      }).catch(() => undefined);
      if (!response || response.status !== 201) {
        await response?.body?.cancel();
        throw new DomainError("unavailable", "the origin node refused the edge's pull", {
          retryAfter: 5,
        });
      }
      a.upstreamUrls.push(new URL(response.headers.get("location")!, a.origin).href);
      return await response.text();
    }, rids);
    a.session = session;
    // the pull ended (the origin closed it, its connection failed or went silent): see why
    session.closed.on(() => {
      if (this.#active.get(key) !== a) return;
      this.#active.delete(key);
      void this.#upstreamEnded(a);
    });
    this.pulls++;
    log.info("edge relay started", { room: a.room, publisher, origin: a.origin, layers: rids });
  }

  /** Ends a relay; with `closeMirror`, the mirror room closes when no other relay feeds it. */
  async #stop(a: Active, closeMirror: boolean): Promise<void> {
    await a.session?.close("edge-released").catch(() => {});
    if (a.upstreamUrls.length) {
      const token = await this.#options.serviceToken(a.room).catch(() => undefined);
      await Promise.all(a.upstreamUrls.map((url) =>
        fetch(url, {
          method: "DELETE",
          headers: token ? { authorization: `Bearer ${token}` } : {},
        }).then((r) => r.body?.cancel()).catch(() => {})
      ));
    }
    const { rooms, log } = this.#options;
    // the mirror goes with its last relay (the players still in it are told `room-closed`)
    if (closeMirror && a.host && rooms.get(a.room) && !this.relays(a.room)) {
      await rooms.close(a.host, a.room).catch(() => {});
    }
    log.info("edge relay ended", { room: a.room, mirrorClosed: closeMirror });
  }

  /** Orphaned mirrors: find the room's next origin, or give up after {@link ORPHAN_MS}. */
  #reattach(now: number): void {
    const { rooms, lookup } = this.#options;
    for (const [key, o] of this.#orphans) {
      if (o.asking) continue;
      if (!rooms.get(o.room)) {
        this.#orphans.delete(key);
        continue;
      }
      if (now - o.since > ORPHAN_MS) {
        this.#orphans.delete(key);
        if (!this.relays(o.room)) void rooms.close(o.host, o.room).catch(() => {});
        continue;
      }
      o.asking = true;
      lookup(o.room).then(async (origin) => {
        if (origin === undefined) return; // none yet, or this node (the host published here)
        await this.ensure(origin, o.room, o.publisher);
        this.#orphans.delete(key);
      }).catch(() => {}).finally(() => o.asking = false);
    }
  }

  #sweep(): void {
    const idleMs = this.#options.idleMs ?? 10_000;
    const now = performance.now();
    this.#reattach(now);
    for (const [key, a] of this.#active) {
      if (silentFor(a, now) > SILENCE_MS && !a.checking) {
        // silent: a publisher that paused (the room still open there) or a dead origin
        a.checking = true;
        this.#roomState(a.origin, a.room).then((state) => {
          if (state === "open") a.heardAt = performance.now(); // wait; asked again later
          else void a.session?.close("origin-gone"); // ended → #upstreamEnded
        }).finally(() => a.checking = false);
        continue;
      }
      const room = this.#options.rooms.get(a.room);
      // the players of the pulled identity, whether its media is live yet or not
      const players = room?.players(a.publisher ?? room.host) ?? 0;
      if (players > 0 || !room) {
        a.idleSince = undefined;
        continue;
      }
      a.idleSince ??= now;
      if (now - a.idleSince >= idleMs) {
        this.#active.delete(key);
        void this.#stop(a, true);
      }
    }
  }
}
