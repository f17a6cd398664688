/**
 * The room resource of this server, for browsers: state (`GET /rooms/{room}`), closing
 * (`DELETE`), and its event stream (`GET /rooms/{room}/events`, Server-Sent Events).
 *
 * `EventSource` cannot send an `Authorization` header, so the stream is read with `fetch()` and
 * parsed here ({@link parseSse}); it reconnects by itself (with backoff) until the room closes.
 *
 * @example
 * ```js
 * import { RoomClient } from "/lib/room.js";
 * const room = new RoomClient("demo", { token });
 * room.addEventListener("room", (e) => console.log("state", e.detail));
 * room.addEventListener("publication-started", (e) => console.log(e.detail.publisher));
 * room.addEventListener("room-closed", () => console.log("ended"));
 * room.follow();
 * ```
 *
 * Events: `room` (the full state, first on every connection of the stream),
 * `publication-started` / `publication-ended` (`detail.publisher`), `participant-joined` /
 * `participant-left` (`detail.identity`), `room-closed`, `stream` (`detail` is `open` or
 * `closed`: the event stream itself), `error` (`detail` an {@link HttpError}).
 *
 * @module
 */
import { HttpError, parseSse } from "./whip-whep.js";

export { parseSse };

/**
 * `GET /rooms/{room}`.
 * @typedef {object} RoomView
 * @property {string} room
 * @property {boolean} open
 * @property {string} [host]
 * @property {boolean} [hostLive]
 * @property {{ publisher: string; codecs: Record<string, string>; players: number }[]} [publications]
 * @property {number} [participants]
 * @property {number} [maxParticipants]
 * @property {number} [sessions]
 */

/** A room of the server, seen by one member. */
export class RoomClient extends EventTarget {
  /** @type {RoomView | null} the last known state (kept up to date by the events). */
  view = null;
  #token;
  #url;
  /** @type {AbortController | null} */
  #follow = null;

  /**
   * @param {string} room the room name (percent-encoded here).
   * @param {{ token?: string; base?: string }} [options] `base`: the server's URL (default: the
   *   page's origin).
   */
  constructor(room, { token, base } = {}) {
    super();
    this.room = room;
    this.#token = token;
    this.#url = new URL(`/rooms/${encodeURIComponent(room)}`, base ?? globalThis.location?.href)
      .href;
  }

  /** The room's URL. */
  get url() {
    return this.#url;
  }

  /** @returns {Record<string, string>} */
  #auth() {
    return this.#token ? { Authorization: `Bearer ${this.#token}` } : {};
  }

  /**
   * @param {string} url
   * @param {RequestInit & { method: string }} init
   */
  async #fetch(url, init) {
    let res;
    try {
      res = await fetch(url, { ...init, headers: { ...this.#auth(), ...init.headers } });
    } catch (cause) {
      throw new HttpError({ status: 0, detail: "cannot reach the server", cause, url });
    }
    if (!res.ok) throw await HttpError.fromResponse(res, init.method);
    return res;
  }

  /**
   * The room's state; `{ open: false }` when it is not open.
   * @returns {Promise<RoomView>}
   */
  async get() {
    const res = await this.#fetch(this.#url, { method: "GET" });
    this.view = await res.json();
    return /** @type {RoomView} */ (this.view);
  }

  /**
   * Opens the room ahead of time (host only).
   * @param {{ maxParticipants?: number }} [settings]
   * @returns {Promise<RoomView>}
   */
  async open(settings) {
    const res = await this.#fetch(this.#url, {
      method: "PUT",
      headers: settings ? { "Content-Type": "application/json" } : {},
      body: settings ? JSON.stringify(settings) : undefined,
    });
    return res.json();
  }

  /** Closes the room (host only): every session in it ends, members get `room-closed`. */
  async close() {
    await this.#fetch(this.#url, { method: "DELETE" });
  }

  /**
   * Follows the event stream until {@link RoomClient#unfollow} or `room-closed`. Reconnects with
   * backoff after network errors, 429 and 5xx; stops on any other error (e.g. 404: the room is
   * not open), which is dispatched as `error`.
   */
  follow() {
    if (this.#follow) return;
    const abort = new AbortController();
    this.#follow = abort;
    this.#followLoop(abort.signal).finally(() => {
      if (this.#follow === abort) this.#follow = null;
    });
  }

  /** Stops following the event stream. */
  unfollow() {
    this.#follow?.abort();
    this.#follow = null;
  }

  /** Whether the event stream is followed. */
  get following() {
    return this.#follow !== null;
  }

  /** @param {AbortSignal} signal */
  async #followLoop(signal) {
    let failures = 0;
    while (!signal.aborted) {
      let closed = false;
      try {
        const res = await this.#fetch(`${this.#url}/events`, {
          method: "GET",
          headers: { Accept: "text/event-stream" },
          signal,
        });
        failures = 0;
        this.#emit("stream", "open");
        for await (const { event, data } of parseSse(res.body, signal)) {
          let detail = {};
          try {
            detail = data ? JSON.parse(data) : {};
          } catch { /* not JSON: keep {} */ }
          this.#track(event, detail);
          this.#emit(event, detail);
          if (event === "room-closed") closed = true;
        }
      } catch (error) {
        if (signal.aborted) break;
        const retry = error instanceof HttpError ? error.retryable : true;
        this.#emit("error", error);
        if (!retry) break;
        failures++;
      } finally {
        this.#emit("stream", "closed");
      }
      if (closed) break;
      if (signal.aborted) break;
      await sleep(Math.min(15_000, 500 * 2 ** Math.min(failures, 5)), signal);
    }
  }

  /**
   * Keeps {@link RoomClient#view} current.
   * @param {string} event
   * @param {any} detail
   */
  #track(event, detail) {
    if (event === "room") {
      this.view = detail;
      return;
    }
    const view = this.view;
    if (!view) return;
    if (event === "publication-started") {
      view.publications = (view.publications ?? []).filter((p) => p.publisher !== detail.publisher);
      view.publications.push({ publisher: detail.publisher, codecs: {}, players: 0 });
      if (detail.publisher === view.host) view.hostLive = true;
    } else if (event === "publication-ended") {
      view.publications = (view.publications ?? []).filter((p) => p.publisher !== detail.publisher);
      if (detail.publisher === view.host) view.hostLive = false;
    } else if (event === "participant-joined") {
      view.participants = (view.participants ?? 0) + 1;
    } else if (event === "participant-left") {
      view.participants = Math.max(0, (view.participants ?? 1) - 1);
    } else if (event === "room-closed") {
      this.view = { room: this.room, open: false };
    }
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * The claims of a JWT, decoded WITHOUT verifying it: for display only (the server checks it).
 * @param {string | null | undefined} token
 * @returns {{ sub?: string; room?: string; role?: string; exp?: number } | null}
 */
export function decodeToken(token) {
  try {
    const part = (token ?? "").split(".")[1];
    if (!part) return null;
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(
      Math.ceil(part.length / 4) * 4,
      "=",
    );
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/**
 * @param {number} ms
 * @param {AbortSignal} [signal]
 */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      resolve(undefined);
    }
  });
}
