/**
 * A feed: what players of one publishing identity are attached to. It outlives the WHIP
 * sessions of that identity, so players keep their sessions when the publisher reconnects or
 * has not started yet. Keyframe requests from players are aggregated and rate-limited here.
 *
 * @module
 */
import type { Codec } from "../sdp/offer.ts";
import type { Kind, Publication } from "./publication.ts";
import type { Subscription } from "./subscription.ts";

/** Shortest interval between two keyframe requests sent to a publisher, ms. */
export const KEYFRAME_REQUEST_INTERVAL_MS = 500;

/** The fan-out point of one publishing identity. */
export class Feed {
  #source?: Publication;
  #subscribers = new Set<Subscription>();
  #lastRequest = -Infinity;
  #pendingRequest?: ReturnType<typeof setTimeout>;

  /** True while a publication is attached. */
  get live(): boolean {
    return this.#source !== undefined;
  }

  /** The live publication's codecs, or undefined. */
  get codecs(): Partial<Record<Kind, Codec>> | undefined {
    return this.#source?.codecs;
  }

  /** Number of attached players. */
  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  /** The live publication, if any. */
  get source(): Publication | undefined {
    return this.#source;
  }

  /** Attaches a (new) publication: players continue from it, starting with a keyframe. */
  setSource(publication: Publication): void {
    this.#source?.setSink(undefined);
    this.#source = publication;
    for (const sub of this.#subscribers) sub.sourceChanged();
    publication.setSink((kind, rtp, codec) => {
      for (const sub of this.#subscribers) sub.send(kind, rtp, codec);
    });
    this.requestKeyframe();
  }

  /** Detaches `publication` if it is the live one; players stay attached, waiting. */
  clearSource(publication: Publication): void {
    if (this.#source !== publication) return;
    publication.setSink(undefined);
    this.#source = undefined;
  }

  /** Attaches a player. */
  subscribe(sub: Subscription): void {
    this.#subscribers.add(sub);
    sub.onKeyframeRequest = () => this.requestKeyframe();
  }

  /** Detaches a player. */
  unsubscribe(sub: Subscription): void {
    this.#subscribers.delete(sub);
    sub.onKeyframeRequest = () => {};
  }

  /**
   * Asks the publisher for a keyframe, at most once per {@link KEYFRAME_REQUEST_INTERVAL_MS}:
   * a request inside the interval is sent when the interval ends, so none is lost.
   */
  requestKeyframe(): void {
    if (!this.#source || this.#pendingRequest !== undefined) return;
    const wait = this.#lastRequest + KEYFRAME_REQUEST_INTERVAL_MS - performance.now();
    if (wait <= 0) {
      this.#lastRequest = performance.now();
      this.#source.requestKeyframe();
      return;
    }
    this.#pendingRequest = setTimeout(() => {
      this.#pendingRequest = undefined;
      this.requestKeyframe();
    }, wait);
  }

  /** Stops timers; called when the room closes. */
  close(): void {
    clearTimeout(this.#pendingRequest);
    this.#pendingRequest = undefined;
    this.#source?.setSink(undefined);
    this.#source = undefined;
    this.#subscribers.clear();
  }
}
