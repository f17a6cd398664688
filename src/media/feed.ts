/**
 * A feed: what players of one publishing identity are attached to. It outlives the WHEP
 * sessions of that identity, so players keep their sessions when the publisher reconnects or
 * has not started yet. Keyframe requests from players are aggregated and rate-limited here,
 * per layer.
 *
 * @module
 */
import type { Codec } from "../sdp/offer.ts";
import { Emitter } from "../events.ts";
import type { Kind, Publication } from "./publication.ts";
import type { Subscription } from "./subscription.ts";

/**
 * What a feed drives: a {@link Subscription} (a player), or a recorder with no peer. A
 * subscriber that is not a viewer (`viewer: false`) is left out of the `viewercount`.
 */
export type FeedSubscriber =
  & Pick<Subscription, "send" | "attach" | "detach" | "keyframeRequests">
  & { readonly viewer?: boolean };

/** Shortest interval between two keyframe requests for one layer, ms. */
export const KEYFRAME_REQUEST_INTERVAL_MS = 500;

/**
 * A source from which no RTP packet arrived for this long is reported inactive (WHEP `inactive`,
 * the room's `publication-ended`) until its next packet, ms. Far above the longest gap of a
 * publisher that is live: Opus DTX sends a packet every 400 ms in silence, a paused or static
 * video still sends frames (libwebrtc repeats one a second) and the audio goes on; a Wi-Fi
 * hiccup of a second or two does not count. The session itself stays until `SESSION_TIMEOUT`.
 */
export const MEDIA_STALL_MS = 3000;

/** What a feed tells its players' event streams (WHEP server-sent events). */
export type FeedEvent =
  | { type: "active" }
  | { type: "inactive" }
  | { type: "viewercount"; viewercount: number };

/**
 * The fan-out point of one publishing identity. Its events say what players get: `active` when
 * a source is attached (a takeover by a new source too), `inactive` when it went away or its
 * media stalled ({@link MEDIA_STALL_MS}), `active` again at its next packet.
 */
export class Feed {
  /** Source and audience changes. */
  readonly events: Emitter<FeedEvent> = new Emitter();
  #source?: Publication;
  /** The attached players, each with the function that stops listening to its keyframe requests. */
  #subscribers = new Map<FeedSubscriber, () => void>();
  #lastRequest = new Map<string, number>();
  #pendingRequest = new Map<string, ReturnType<typeof setTimeout>>();
  #active = false;
  #lastPacketAt = 0;

  /** True while a publication is attached (even when its media stalled). */
  get live(): boolean {
    return this.#source !== undefined;
  }

  /** True while a publication is attached and its media flows (not stalled). */
  get active(): boolean {
    return this.#active;
  }

  /** The live publication's codecs, or undefined. */
  get codecs(): Partial<Record<Kind, Codec>> | undefined {
    return this.#source?.codecs;
  }

  /** Number of attached players (recorders included). */
  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** Number of attached viewers (recorders left out). */
  get viewerCount(): number {
    let n = 0;
    for (const sub of this.#subscribers.keys()) if (sub.viewer !== false) n++;
    return n;
  }

  /** The live publication, if any. */
  get source(): Publication | undefined {
    return this.#source;
  }

  /** Attaches a (new) publication: players continue from it, starting with a keyframe. */
  setSource(publication: Publication): void {
    this.#source?.setSink(undefined);
    this.#source = publication;
    this.#lastPacketAt = performance.now();
    // `now`: the publication's one clock read per packet, not one per player
    publication.setSink((kind, rtp, codec, keyframe, layer, now = performance.now()) => {
      const rid = layer?.rid ?? "";
      this.#lastPacketAt = now;
      if (!this.#active) this.#setActive(true); // media again after a stall
      for (const sub of this.#subscribers.keys()) sub.send(kind, rtp, codec, keyframe, rid, now);
    });
    for (const sub of this.#subscribers.keys()) sub.attach(publication);
    this.requestKeyframe(); // fills the keyframe cache early, and players waiting get one
    this.#active = false;
    this.#setActive(true); // a new source: `active` even when one was already
  }

  /**
   * Reports the source inactive when no packet came from it for `stallMs` until `now`
   * (`performance.now()`); true when it just went inactive. The source stays attached and its
   * next packet makes the feed active again.
   */
  checkStall(now: number, stallMs: number = MEDIA_STALL_MS): boolean {
    if (!this.#active || now - this.#lastPacketAt <= stallMs) return false;
    this.#setActive(false);
    return true;
  }

  /** Detaches `publication` if it is the live one; players stay attached, waiting. */
  clearSource(publication: Publication): void {
    if (this.#source !== publication) return;
    publication.setSink(undefined);
    this.#source = undefined;
    for (const sub of this.#subscribers.keys()) sub.detach();
    if (this.#active) this.#setActive(false);
  }

  /** Attaches a player. */
  subscribe(sub: FeedSubscriber): void {
    this.#subscribers.get(sub)?.(); // attached again: one listener
    this.#subscribers.set(sub, sub.keyframeRequests.on((rid) => this.requestKeyframe(rid)));
    if (this.#source) sub.attach(this.#source);
    this.events.emit({ type: "viewercount", viewercount: this.viewerCount });
  }

  /** Detaches a player. */
  unsubscribe(sub: FeedSubscriber): void {
    const stop = this.#subscribers.get(sub);
    if (!stop) return;
    stop();
    this.#subscribers.delete(sub);
    this.events.emit({ type: "viewercount", viewercount: this.viewerCount });
  }

  /**
   * Asks the publisher for a keyframe on layer `rid` (every layer when undefined), at most once
   * per {@link KEYFRAME_REQUEST_INTERVAL_MS} per layer: a request inside the interval is sent
   * when the interval ends, so none is lost.
   */
  requestKeyframe(rid?: string): void {
    const key = rid ?? "*";
    if (!this.#source || this.#pendingRequest.has(key)) return;
    const wait = (this.#lastRequest.get(key) ?? -Infinity) + KEYFRAME_REQUEST_INTERVAL_MS -
      performance.now();
    if (wait <= 0) {
      this.#lastRequest.set(key, performance.now());
      this.#source.requestKeyframe(rid);
      return;
    }
    this.#pendingRequest.set(
      key,
      setTimeout(() => {
        this.#pendingRequest.delete(key);
        this.requestKeyframe(rid);
      }, wait),
    );
  }

  /** Stops timers; called when the room closes. */
  close(): void {
    for (const timer of this.#pendingRequest.values()) clearTimeout(timer);
    this.#pendingRequest.clear();
    this.#source?.setSink(undefined);
    this.#source = undefined;
    this.#active = false;
    for (const stop of this.#subscribers.values()) stop();
    this.#subscribers.clear();
    this.events.clear();
  }

  #setActive(active: boolean): void {
    this.#active = active;
    this.events.emit({ type: active ? "active" : "inactive" });
  }
}
