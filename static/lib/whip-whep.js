/**
 * Tiny browser clients for WHIP (RFC 9725, publishing) and WHEP (draft-ietf-wish-whep, playing),
 * with no dependencies and no build step.
 *
 * - POST the SDP offer with a Bearer token, apply the answer; the session is the `Location` URL.
 * - Trickle ICE: local candidates are batched into `application/trickle-ice-sdpfrag` PATCHes with
 *   `If-Match: <ETag>`, ending with `a=end-of-candidates`.
 * - ICE restart (on `iceconnectionstate` failed or disconnected for a while, on a network change,
 *   or by calling {@link SessionClient#restartIce}): new ufrag/pwd PATCHed with `If-Match: "*"`,
 *   the server's sdpfrag applied as a new remote description.
 * - Reconnect: when the connection stays down after an ICE restart, the session is POSTed again
 *   with exponential backoff (optional, on by default).
 * - DELETE on {@link SessionClient#stop}, and on `pagehide` with `fetch(..., { keepalive: true })`.
 * - Errors are {@link HttpError}s: `status` (0 for a network failure) and the RFC 9457 problem
 *   details (`title`, `detail`, `type`), plus `retryAfter` seconds when the server sent one.
 *
 * @example Publish the camera
 * ```js
 * import { WhipClient } from "/lib/whip-whep.js";
 * const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
 * const whip = new WhipClient("/whip/demo", { token });
 * whip.addEventListener("state", () => console.log(whip.state));
 * await whip.publish(stream, { videoCodec: "video/VP8", simulcast: false });
 * // ... later
 * await whip.stop();
 * ```
 *
 * @example Play it
 * ```js
 * import { WhepClient } from "/lib/whip-whep.js";
 * const whep = new WhepClient("/whep/demo", { token });
 * video.srcObject = whep.stream;
 * await whep.play();
 * ```
 *
 * Events (both clients are `EventTarget`s):
 * - `state`: `client.state` changed (`new`, `connecting`, `connected`, `restarting`,
 *   `reconnecting`, `failed`, `closed`); `event.detail` is the new state.
 * - `error`: `event.detail` is the {@link HttpError} or `Error` that stopped a (re)connection.
 * - `session`: a new session URL (`client.location`) after a successful POST.
 *
 * @module
 */

/** Media type of trickle ICE / ICE restart bodies (RFC 8840). */
export const SDPFRAG = "application/trickle-ice-sdpfrag";
/** Link relation of a STUN/TURN server (RFC 9725 §4.6). */
export const REL_ICE_SERVER = "ice-server";
/** Link relation of the WHEP layer selection extension. */
export const REL_LAYER = "urn:ietf:params:whep:ext:core:layer";
/** Link relation of the WHEP server-sent events extension. */
export const REL_SSE = "urn:ietf:params:whep:ext:core:server-sent-events";

/**
 * An HTTP failure with its RFC 9457 problem details (or a network failure, `status` 0).
 */
export class HttpError extends Error {
  /**
   * @param {object} init
   * @param {number} init.status HTTP status; 0 when the server could not be reached.
   * @param {string} [init.title] problem `title`.
   * @param {string} [init.detail] problem `detail`.
   * @param {string} [init.type] problem `type`, e.g. `/problems/room-full`.
   * @param {number} [init.retryAfter] seconds, from `Retry-After`.
   * @param {string} [init.method] the request method.
   * @param {string} [init.url] the request URL.
   * @param {unknown} [init.cause] the underlying error.
   */
  constructor({ status, title, detail, type, retryAfter, method, url, cause }) {
    super(
      detail || title || (status ? `HTTP ${status}` : "network error"),
      cause === undefined ? undefined : { cause },
    );
    this.name = "HttpError";
    /** @type {number} */
    this.status = status;
    /** @type {string} */
    this.title = title ?? (status ? `HTTP ${status}` : "Network error");
    /** @type {string} */
    this.detail = detail ?? "";
    /** @type {string} */
    this.type = type ?? "";
    /** @type {number | undefined} */
    this.retryAfter = retryAfter;
    /** @type {string | undefined} */
    this.method = method;
    /** @type {string | undefined} */
    this.url = url;
  }

  /** The problem code: the last segment of `type` (`room-full`, `unauthorized`, ...). */
  get code() {
    return this.type.split("/").pop() ?? "";
  }

  /** Whether trying again later may work (network failure, 429, 5xx). */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }

  /**
   * Builds the error of a non-2xx response, reading its problem details when it has some.
   * @param {Response} res
   * @param {string} [method]
   * @returns {Promise<HttpError>}
   */
  static async fromResponse(res, method) {
    /** @type {{ title?: string; detail?: string; type?: string }} */
    let problem = {};
    try {
      const text = await res.text();
      if (/json/.test(res.headers.get("Content-Type") ?? "")) problem = JSON.parse(text);
      else if (text.trim()) problem = { detail: text.trim().slice(0, 300) };
    } catch { /* no readable body */ }
    const retry = Number(res.headers.get("Retry-After"));
    return new HttpError({
      status: res.status,
      title: problem.title || res.statusText || undefined,
      detail: problem.detail,
      type: problem.type,
      retryAfter: Number.isFinite(retry) && retry > 0 ? retry : undefined,
      method,
      url: res.url,
    });
  }
}

/**
 * One parsed `Link` header entry.
 * @typedef {object} Link
 * @property {string} url absolute URL.
 * @property {string} rel the relation.
 * @property {Record<string, string>} params every other parameter (`username`, `credential`, ...).
 */

/**
 * Parses `Link` header values (several header lines arrive joined by `, `).
 * @param {string | null} value
 * @param {string} base URL that relative references resolve against.
 * @returns {Link[]}
 */
export function parseLinkHeader(value, base) {
  /** @type {Link[]} */
  const links = [];
  if (!value) return links;
  const re = /<([^>]*)>((?:\s*;\s*[^;,=\s]+(?:\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^;,\s]*))?)*)/g;
  for (const m of value.matchAll(re)) {
    /** @type {Record<string, string>} */
    const params = {};
    for (const p of m[2].matchAll(/;\s*([^;,=\s]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*))?/g)) {
      let v = p[2] ?? "";
      if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, "$1");
      params[p[1].toLowerCase()] = v;
    }
    const { rel = "", ...rest } = params;
    let url = m[1];
    try {
      url = new URL(m[1], base).href;
    } catch { /* stun:/turn: URIs are absolute already */ }
    links.push({ url, rel, params: rest });
  }
  return links;
}

/**
 * The `RTCIceServer`s of `Link: <...>; rel="ice-server"` entries.
 * @param {Link[]} links
 * @returns {RTCIceServer[]}
 */
export function iceServersFromLinks(links) {
  return links.filter((l) => l.rel === REL_ICE_SERVER).map((l) => ({
    urls: l.url,
    ...(l.params.username !== undefined
      ? { username: l.params.username, credential: l.params.credential ?? "" }
      : {}),
  }));
}

/**
 * Options of both clients.
 * @typedef {object} ClientOptions
 * @property {string} [token] the Bearer token (JWT).
 * @property {RTCIceServer[]} [iceServers] STUN/TURN servers; those of the server's `Link`
 *   headers are added for ICE restarts.
 * @property {boolean} [reconnect=true] POST again (with backoff) when the connection fails and
 *   an ICE restart did not bring it back, or when a POST fails with a retryable error.
 * @property {number} [maxBackoffMs=30000] longest wait between two reconnection attempts.
 * @property {(error: HttpError | Error) => boolean} [shouldRetry] whether a failed (re)connection
 *   is tried again; by default network errors, 429 and 5xx.
 * @property {boolean} [leaveOnPageHide=true] DELETE the session when the page is hidden for good.
 * @property {number} [trickleDelayMs=30] how long candidates are batched before a PATCH.
 * @property {number} [disconnectedRestartMs=3000] an ICE restart starts when ICE stays
 *   `disconnected` this long (at once on `failed`).
 * @property {number} [restartTimeoutMs=6000] how long an ICE restart may take before the session
 *   is POSTed again.
 * @property {boolean | string[]} [events=true] WHEP only: follow the server-sent events extension
 *   when the server offers it (`true`: every event it offers; or a list of event names).
 */

/**
 * The part WHIP and WHEP share: one session (POST, trickle PATCH, ICE restart, DELETE), its
 * `RTCPeerConnection`, and reconnection. Use {@link WhipClient} or {@link WhepClient}.
 */
export class SessionClient extends EventTarget {
  /** @type {RTCPeerConnection | null} the current connection. */
  pc = null;
  /** @type {string | null} absolute session URL (from `Location`). */
  location = null;
  /** @type {string | null} the ICE session's ETag. */
  etag = null;
  /** @type {Link[]} `Link` headers of the last 201. */
  links = [];
  /** @type {string} see the module's events. */
  state = "new";
  /** @type {number} successful POSTs so far (1 after the first connection). */
  sessions = 0;
  /** @type {number} ICE restarts that the server accepted. */
  iceRestarts = 0;

  /** @type {Required<Omit<ClientOptions, "token" | "shouldRetry">> & ClientOptions} */
  #options;
  #endpoint;
  #closed = false;
  #generation = 0;
  /** @type {{ ufrag: string; pwd: string; mid: string; candidates: string[]; done: boolean; sentDone: boolean }} */
  #trickle = { ufrag: "", pwd: "", mid: "0", candidates: [], done: false, sentDone: false };
  /** @type {Promise<void>} PATCHes go one at a time. */
  #patches = Promise.resolve();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #trickleTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #disconnectTimer;
  /** @type {Promise<void> | null} */
  #restarting = null;
  /** @type {Promise<void> | null} */
  #reconnecting = null;
  #recovering = false;
  #offHandlers = () => {};

  /**
   * @param {string | URL} endpoint the WHIP or WHEP endpoint URL (relative to the page is fine).
   * @param {ClientOptions} [options]
   */
  constructor(endpoint, options = {}) {
    super();
    this.#endpoint = new URL(endpoint, globalThis.location?.href).href;
    this.#options = {
      iceServers: [],
      reconnect: true,
      maxBackoffMs: 30_000,
      leaveOnPageHide: true,
      trickleDelayMs: 30,
      disconnectedRestartMs: 3000,
      restartTimeoutMs: 6000,
      ...options,
    };
  }

  /** The endpoint URL. */
  get endpoint() {
    return this.#endpoint;
  }

  /** The Bearer token used for every request; may be replaced (e.g. a refreshed token). */
  get token() {
    return this.#options.token;
  }
  set token(value) {
    this.#options.token = value;
  }

  /**
   * Called for each new `RTCPeerConnection`, before the offer: add tracks or transceivers.
   * @param {RTCPeerConnection} _pc
   * @protected
   */
  _prepare(_pc) {
    throw new Error("SessionClient is abstract: use WhipClient or WhepClient");
  }

  /**
   * POSTs a new session (and keeps it up, when `reconnect` is on). Resolves once the answer is
   * applied; rejects with the {@link HttpError} of a failed POST, except a retryable one while
   * `reconnect` is on: that one is dispatched as an `error` event and the POST tried again.
   * @protected
   */
  async _start() {
    this.#closed = false;
    this.#listenToPage();
    try {
      await this.#connect();
    } catch (error) {
      if (this.#options.reconnect && this.#retryable(error)) {
        this.#emitError(error);
        this.reconnect();
        return;
      }
      this.#closePc();
      this.#setState("failed");
      throw error;
    }
  }

  /**
   * Ends the session: DELETE on its URL, then closes the connection. Never throws.
   * @param {{ keepalive?: boolean }} [options] `keepalive` lets the DELETE outlive the page.
   */
  async stop({ keepalive = false } = {}) {
    this.#closed = true;
    this.#offHandlers();
    clearTimeout(this.#trickleTimer);
    clearTimeout(this.#disconnectTimer);
    const url = this.location;
    this.location = null;
    this.#closePc();
    this.#setState("closed");
    if (url) {
      try {
        await fetch(url, { method: "DELETE", headers: this.#auth(), keepalive });
      } catch { /* the session times out on the server anyway */ }
    }
  }

  /**
   * Restarts ICE on the current session: new local credentials PATCHed with `If-Match: "*"`,
   * the server's sdpfrag (credentials and candidates) applied as the new remote description.
   * Resolves when the server answered; rejects (after a rollback) when it refused.
   */
  restartIce() {
    if (!this.#restarting) {
      this.#restarting = this.#restartIce().finally(() => {
        this.#restarting = null;
        if (this.pc) this.#onIceState(this.pc);
      });
    }
    return this.#restarting;
  }

  /** Drops the current session and POSTs again, with backoff until it works or stop(). */
  reconnect() {
    if (this.#closed) return Promise.resolve();
    if (!this.#reconnecting) {
      this.#reconnecting = this.#reconnectLoop().finally(() => {
        this.#reconnecting = null;
        if (this.pc) this.#onIceState(this.pc);
      });
    }
    return this.#reconnecting;
  }

  /**
   * `getStats()` of the current connection (an empty map when there is none).
   * @returns {Promise<RTCStatsReport | Map<string, never>>}
   */
  getStats() {
    return this.pc ? this.pc.getStats() : Promise.resolve(new Map());
  }

  // ---- internals ----

  /** @param {string} state */
  #setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  /** @param {unknown} error */
  #emitError(error) {
    this.dispatchEvent(new CustomEvent("error", { detail: error }));
  }

  /** @param {unknown} error */
  #retryable(error) {
    if (this.#options.shouldRetry) {
      return this.#options.shouldRetry(/** @type {HttpError | Error} */ (error));
    }
    return error instanceof HttpError && error.retryable;
  }

  /** @returns {Record<string, string>} */
  #auth() {
    return this.#options.token ? { Authorization: `Bearer ${this.#options.token}` } : {};
  }

  /**
   * fetch() that turns network failures and non-2xx answers into {@link HttpError}s.
   * @param {string} url
   * @param {RequestInit & { method: string }} init
   */
  async #fetch(url, init) {
    let res;
    try {
      res = await fetch(url, { ...init, headers: { ...this.#auth(), ...init.headers } });
    } catch (cause) {
      throw new HttpError({
        status: 0,
        title: "Network error",
        detail: `cannot reach ${new URL(url).host}`,
        method: init.method,
        url,
        cause,
      });
    }
    if (!res.ok) throw await HttpError.fromResponse(res, init.method);
    return res;
  }

  #closePc() {
    const pc = this.pc;
    this.pc = null;
    if (pc) {
      pc.onicecandidate = pc.oniceconnectionstatechange = pc.onconnectionstatechange = null;
      pc.close();
    }
  }

  async #connect() {
    const generation = ++this.#generation;
    this.#closePc();
    this.location = null;
    this.etag = null;
    this.#setState(this.sessions === 0 ? "connecting" : "reconnecting");
    const pc = new RTCPeerConnection({
      iceServers: this.#options.iceServers,
      bundlePolicy: "max-bundle",
    });
    this.pc = pc;
    this._prepare(pc);
    pc.onicecandidate = (e) => this.#onCandidate(pc, e.candidate);
    pc.oniceconnectionstatechange = () => this.#onIceState(pc);
    pc.onconnectionstatechange = () => this.#onIceState(pc);
    const offer = await pc.createOffer();
    this.#resetTrickle(offer.sdp ?? "");
    await pc.setLocalDescription(offer);
    const res = await this.#fetch(this.#endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: offer.sdp,
    });
    const answer = await res.text();
    if (generation !== this.#generation || this.#closed) {
      // stopped or superseded while the POST was in flight: end the orphan session
      const orphan = res.headers.get("Location");
      if (orphan) {
        fetch(new URL(orphan, this.#endpoint), { method: "DELETE", headers: this.#auth() })
          .catch(() => {});
      }
      return;
    }
    this.location = new URL(res.headers.get("Location") ?? "", this.#endpoint).href;
    this.etag = res.headers.get("ETag");
    this.links = parseLinkHeader(res.headers.get("Link"), this.#endpoint);
    const linked = iceServersFromLinks(this.links);
    if (linked.length > 0 && this.#options.iceServers.length === 0) {
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: linked });
      } catch { /* used at the next restart only anyway */ }
    }
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
    } catch (error) {
      // an answer the browser refuses: do not leave the server's session behind
      const url = this.location;
      this.location = null;
      fetch(url, { method: "DELETE", headers: this.#auth() }).catch(() => {});
      throw error;
    }
    this.sessions++;
    this.dispatchEvent(new CustomEvent("session", { detail: this.location }));
    this.#scheduleTrickle(0);
    this.#onIceState(pc);
  }

  /** @param {string} sdp the local description */
  #resetTrickle(sdp) {
    const ice = iceOf(sdp);
    this.#trickle = { ...ice, candidates: [], done: false, sentDone: false };
  }

  /**
   * @param {RTCPeerConnection} pc
   * @param {RTCIceCandidate | null} candidate
   */
  #onCandidate(pc, candidate) {
    if (pc !== this.pc) return;
    const t = this.#trickle;
    if (!candidate || !candidate.candidate) {
      t.done = true;
    } else {
      if (candidate.usernameFragment && t.ufrag && candidate.usernameFragment !== t.ufrag) return;
      t.candidates.push(candidate.candidate);
    }
    this.#scheduleTrickle(this.#options.trickleDelayMs);
  }

  /** @param {number} delay */
  #scheduleTrickle(delay) {
    clearTimeout(this.#trickleTimer);
    this.#trickleTimer = setTimeout(() => {
      this.#patches = this.#patches.then(() => this.#flushTrickle()).catch(() => {});
    }, delay);
  }

  async #flushTrickle() {
    const t = this.#trickle;
    if (!this.location || !this.etag || this.#restarting || this.#closed) return;
    if (t.candidates.length === 0 && (!t.done || t.sentDone)) return;
    const candidates = t.candidates.splice(0);
    const done = t.done;
    const lines = [
      `a=ice-ufrag:${t.ufrag}`,
      `a=ice-pwd:${t.pwd}`,
      "m=audio 9 UDP/TLS/RTP/SAVPF 0",
      `a=mid:${t.mid}`,
      ...candidates.map((c) => `a=${c.replace(/^a=/, "")}`),
      ...(done ? ["a=end-of-candidates"] : []),
    ];
    try {
      await this.#fetch(this.location, {
        method: "PATCH",
        headers: { "Content-Type": SDPFRAG, "If-Match": this.etag },
        body: lines.join("\r\n") + "\r\n",
      });
      if (done) t.sentDone = true;
    } catch (error) {
      // Trickle is best effort: the server's candidates are all in its answer, so ICE still
      // works through peer-reflexive candidates. Report it, do not fail the session.
      this.#emitError(error);
    }
  }

  /** @param {RTCPeerConnection} pc */
  #onIceState(pc) {
    if (pc !== this.pc || this.#closed) return;
    const ice = pc.iceConnectionState;
    const conn = pc.connectionState;
    if (conn === "connected" || ice === "connected" || ice === "completed") {
      clearTimeout(this.#disconnectTimer);
      this.#disconnectTimer = undefined;
      if (!this.#restarting) this.#setState("connected");
    } else if (ice === "failed" || conn === "failed") {
      clearTimeout(this.#disconnectTimer);
      this.#disconnectTimer = undefined;
      this.#recover();
    } else if (ice === "disconnected" && !this.#disconnectTimer) {
      this.#disconnectTimer = setTimeout(() => {
        this.#disconnectTimer = undefined;
        if (this.pc === pc && pc.iceConnectionState === "disconnected") this.#recover();
      }, this.#options.disconnectedRestartMs);
    }
  }

  /** ICE restart first; a new POST if that fails or does not reconnect in time. */
  async #recover() {
    if (this.#closed || this.#recovering || this.#reconnecting || !this.location) return;
    this.#recovering = true;
    const pc = this.pc;
    try {
      await this.restartIce();
      if (await waitConnected(pc, this.#options.restartTimeoutMs) || pc !== this.pc) return;
    } catch (error) {
      this.#emitError(error);
    } finally {
      this.#recovering = false;
    }
    if (pc !== this.pc || this.#closed) return;
    if (this.#options.reconnect) this.reconnect();
    else this.#setState("failed");
  }

  async #restartIce() {
    const pc = this.pc;
    if (!pc || !this.location || this.#closed) throw new Error("no session to restart");
    this.#setState("restarting");
    const offer = await pc.createOffer({ iceRestart: true });
    this.#resetTrickle(offer.sdp ?? "");
    await pc.setLocalDescription(offer);
    const t = this.#trickle;
    let res;
    try {
      res = await this.#fetch(this.location, {
        method: "PATCH",
        headers: { "Content-Type": SDPFRAG, "If-Match": '"*"' },
        body: [
          `a=ice-ufrag:${t.ufrag}`,
          `a=ice-pwd:${t.pwd}`,
          "m=audio 9 UDP/TLS/RTP/SAVPF 0",
          `a=mid:${t.mid}`,
          "",
        ].join("\r\n"),
      });
      if (pc !== this.pc) return;
      const frag = parseSdpFrag(await res.text());
      if (!frag.ufrag || !frag.pwd) {
        throw new HttpError({ status: res.status, title: "Bad ICE restart answer" });
      }
      const remote = pc.remoteDescription?.sdp ?? "";
      await pc.setRemoteDescription({ type: "answer", sdp: applyRestart(remote, frag) });
    } catch (error) {
      if (pc === this.pc && pc.signalingState === "have-local-offer") {
        await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
      throw error;
    }
    this.etag = res.headers.get("ETag") ?? this.etag;
    this.iceRestarts++;
    this.#scheduleTrickle(0);
  }

  async #reconnectLoop() {
    let attempt = 0;
    const old = this.location;
    this.location = null;
    this.#closePc();
    if (old) fetch(old, { method: "DELETE", headers: this.#auth() }).catch(() => {});
    while (!this.#closed) {
      this.#setState("reconnecting");
      const base = Math.min(this.#options.maxBackoffMs, 1000 * 2 ** Math.min(attempt, 10));
      const wait = attempt === 0 ? 250 : base / 2 + Math.random() * base / 2;
      await sleep(wait);
      if (this.#closed) return;
      attempt++;
      try {
        await this.#connect();
        return;
      } catch (error) {
        this.#emitError(error);
        if (!this.#retryable(error)) {
          this.#closePc();
          this.#setState("failed");
          return;
        }
        if (error instanceof HttpError && error.retryAfter) {
          await sleep(Math.min(error.retryAfter * 1000, this.#options.maxBackoffMs));
        }
      }
    }
  }

  #listenToPage() {
    this.#offHandlers();
    const target = globalThis;
    const onHide = (/** @type {PageTransitionEvent} */ e) => {
      if (!e.persisted && this.#options.leaveOnPageHide) this.stop({ keepalive: true });
    };
    const onNetwork = () => {
      if (this.pc && this.location && !this.#closed) this.#recover();
    };
    /** @type {any} */
    const connection = /** @type {any} */ (globalThis.navigator)?.connection;
    target.addEventListener("pagehide", onHide);
    target.addEventListener("online", onNetwork);
    connection?.addEventListener?.("change", onNetwork);
    this.#offHandlers = () => {
      target.removeEventListener("pagehide", onHide);
      target.removeEventListener("online", onNetwork);
      connection?.removeEventListener?.("change", onNetwork);
    };
  }
}

/**
 * Options of {@link WhipClient#publish}.
 * @typedef {object} PublishOptions
 * @property {string} [videoCodec] preferred video MIME type, e.g. `video/VP8`, `video/H264`,
 *   `video/VP9`, `video/AV1` (others stay as fallbacks).
 * @property {string} [audioCodec] preferred audio MIME type (default `audio/opus`).
 * @property {boolean} [simulcast=false] send three layers with rids `q`, `h`, `f` (quarter, half,
 *   full resolution).
 * @property {number} [maxBitrate] highest video bitrate in bit/s (of the full layer).
 */

/** Publishes a `MediaStream` with WHIP. */
export class WhipClient extends SessionClient {
  /** @type {MediaStream | null} */
  stream = null;
  /** @type {PublishOptions} */
  publishOptions = {};

  /**
   * Publishes `stream` (its first audio and first video track).
   * @param {MediaStream} stream
   * @param {PublishOptions} [options]
   */
  publish(stream, options = {}) {
    this.stream = stream;
    this.publishOptions = options;
    return this._start();
  }

  /**
   * Replaces the published track of that kind (device switch) without renegotiation.
   * @param {MediaStreamTrack} track
   */
  async replaceTrack(track) {
    const sender = this.pc?.getSenders().find((s) => s.track?.kind === track.kind) ??
      this.pc?.getTransceivers().find((t) => t.receiver.track.kind === track.kind)?.sender;
    if (sender) await sender.replaceTrack(track);
    if (this.stream) {
      for (const old of this.stream.getTracks()) {
        if (old.kind === track.kind && old !== track) this.stream.removeTrack(old);
      }
      if (!this.stream.getTracks().includes(track)) this.stream.addTrack(track);
    }
  }

  /**
   * @param {RTCPeerConnection} pc
   * @protected
   */
  _prepare(pc) {
    const { simulcast, maxBitrate, videoCodec, audioCodec = "audio/opus" } = this.publishOptions;
    const stream = this.stream ?? new MediaStream();
    const audio = stream.getAudioTracks()[0];
    const video = stream.getVideoTracks()[0];
    if (audio) {
      const t = pc.addTransceiver(audio, { direction: "sendonly", streams: [stream] });
      preferCodec(t, "audio", audioCodec);
    }
    if (video) {
      /** @type {RTCRtpEncodingParameters[]} */
      let encodings = [{ ...(maxBitrate ? { maxBitrate } : {}) }];
      if (simulcast) {
        const full = maxBitrate ?? 2_500_000;
        encodings = [
          { rid: "q", scaleResolutionDownBy: 4, maxBitrate: Math.round(full / 10) },
          { rid: "h", scaleResolutionDownBy: 2, maxBitrate: Math.round(full / 3) },
          { rid: "f", scaleResolutionDownBy: 1, maxBitrate: full },
        ];
      }
      const t = pc.addTransceiver(video, {
        direction: "sendonly",
        streams: [stream],
        sendEncodings: encodings,
      });
      if (videoCodec) preferCodec(t, "video", videoCodec);
    }
  }
}

/**
 * Plays a publication with WHEP.
 *
 * When the server offers the server-sent events extension, its events are dispatched as
 * `CustomEvent`s of the same name with the parsed JSON as `detail`: `active`, `inactive`,
 * `layers` (also kept in {@link WhepClient#layers}), `viewercount`; `reconnect` also makes the
 * client POST again (the server is going away).
 */
export class WhepClient extends SessionClient {
  /** The received tracks, in one stream that survives reconnections. */
  stream = new MediaStream();
  /**
   * The last `layers` event: video layers by media id, e.g.
   * `{ "1": [{ rid: "f", bitrate: 1714835, width: 1280, height: 720 }, ...] }`.
   * @type {Record<string, { rid: string; bitrate?: number; width?: number; height?: number }[]> | null}
   */
  layers = null;
  /** @type {AbortController | null} */
  #events = null;
  /** @type {boolean | string[]} */
  #wanted;

  /**
   * @param {string | URL} endpoint the WHEP endpoint (e.g. `/whep/demo?publisher=alice`).
   * @param {ClientOptions} [options]
   */
  constructor(endpoint, options = {}) {
    super(endpoint, options);
    this.#wanted = options.events ?? true;
    this.addEventListener("session", () => this.#follow());
    this.addEventListener("state", () => {
      if (this.state === "closed" || this.state === "reconnecting") this.#unfollow();
    });
  }

  /** The video layers of the last `layers` event (first video media), or `[]`. */
  get videoLayers() {
    return Object.values(this.layers ?? {})[0] ?? [];
  }

  #unfollow() {
    this.#events?.abort();
    this.#events = null;
  }

  async #follow() {
    this.#unfollow();
    const link = this.links.find((l) => l.rel === REL_SSE);
    this.layers = null;
    if (!link || this.#wanted === false) return;
    const abort = new AbortController();
    this.#events = abort;
    const offered = (link.params.events ?? "").split(",").map((e) => e.trim()).filter(Boolean);
    const wanted = Array.isArray(this.#wanted) ? this.#wanted : offered;
    /** @type {Record<string, string>} */
    const auth = this.token ? { Authorization: `Bearer ${this.token}` } : {};
    try {
      const created = await fetch(link.url, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...auth },
        body: JSON.stringify(wanted),
        signal: abort.signal,
      });
      if (!created.ok) throw await HttpError.fromResponse(created, "POST");
      const url = new URL(created.headers.get("Location") ?? "", link.url).href;
      const res = await fetch(url, {
        headers: { Accept: "text/event-stream", ...auth },
        signal: abort.signal,
      });
      if (!res.ok) throw await HttpError.fromResponse(res, "GET");
      for await (const { event, data } of parseSse(res.body, abort.signal)) {
        let detail = {};
        try {
          detail = data ? JSON.parse(data) : {};
        } catch { /* keep {} */ }
        if (event === "layers") this.layers = /** @type {any} */ (detail);
        this.dispatchEvent(new CustomEvent(event, { detail }));
        if (event === "reconnect") this.reconnect();
      }
    } catch (error) {
      if (!abort.signal.aborted) this.dispatchEvent(new CustomEvent("error", { detail: error }));
    }
  }

  /** Starts playing. Attach {@link WhepClient#stream} to a `<video>` (any time). */
  play() {
    return this._start();
  }

  /** The layer selection URL, when the server offers the WHEP layer extension. */
  get layerUrl() {
    return this.links.find((l) => l.rel === REL_LAYER)?.url ?? null;
  }

  /** The server-sent events URL, when the server offers the WHEP events extension. */
  get eventsUrl() {
    return this.links.find((l) => l.rel === REL_SSE)?.url ?? null;
  }

  /**
   * Asks for a layer (WHEP layer extension): e.g. `{ encodingId: "h" }` (a simulcast rid), or
   * `{}` to go back to the server's automatic choice.
   * @param {{ mediaId?: string; encodingId?: string; spatialLayerId?: number; temporalLayerId?: number }} layer
   */
  async selectLayer(layer) {
    const url = this.layerUrl;
    if (!url) throw new Error("the server offers no layer selection for this session");
    await this.#request(url, layer);
  }

  /**
   * @param {string} url
   * @param {unknown} body
   */
  async #request(url, body) {
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw await HttpError.fromResponse(res, "POST");
  }

  /**
   * @param {RTCPeerConnection} pc
   * @protected
   */
  _prepare(pc) {
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addEventListener("track", (e) => {
      for (const old of this.stream.getTracks()) {
        if (old.kind === e.track.kind && old !== e.track) this.stream.removeTrack(old);
      }
      this.stream.addTrack(e.track);
      this.dispatchEvent(new CustomEvent("track", { detail: e.track }));
    });
  }
}

// ---- SDP helpers (exported for tests and other clients) ----

/**
 * ICE credentials and first mid of a local description.
 * @param {string} sdp
 * @returns {{ ufrag: string; pwd: string; mid: string }}
 */
export function iceOf(sdp) {
  const ufrag = /^a=ice-ufrag:(.*)$/m.exec(sdp)?.[1]?.trim() ?? "";
  const pwd = /^a=ice-pwd:(.*)$/m.exec(sdp)?.[1]?.trim() ?? "";
  const mid = /^a=mid:(.*)$/m.exec(sdp)?.[1]?.trim() ?? "0";
  return { ufrag, pwd, mid };
}

/**
 * Parses an sdpfrag answer (RFC 8840): credentials and candidates, wherever they are.
 * @param {string} text
 * @returns {{ ufrag?: string; pwd?: string; candidates: string[]; mid?: string }}
 */
export function parseSdpFrag(text) {
  /** @type {{ ufrag?: string; pwd?: string; candidates: string[]; mid?: string }} */
  const frag = { candidates: [] };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("a=ice-ufrag:")) frag.ufrag ??= line.slice(12);
    else if (line.startsWith("a=ice-pwd:")) frag.pwd ??= line.slice(10);
    else if (line.startsWith("a=mid:")) frag.mid ??= line.slice(6);
    else if (line.startsWith("a=candidate:")) frag.candidates.push(line.slice(2));
  }
  return frag;
}

/**
 * The new remote description after an ICE restart: the previous answer with the server's new
 * credentials, its old candidates replaced by the new ones (in the first media section, where
 * BUNDLE puts them).
 * @param {string} sdp the current remote description
 * @param {{ ufrag?: string; pwd?: string; candidates: string[] }} frag the server's sdpfrag
 * @returns {string}
 */
export function applyRestart(sdp, frag) {
  const lines = sdp.split(/\r?\n/).filter((l) => l !== "");
  const out = [];
  let section = -1;
  for (const line of lines) {
    if (line.startsWith("m=")) {
      if (section === 0) out.push(...frag.candidates.map((c) => `a=${c}`), "a=end-of-candidates");
      section++;
    }
    if (line.startsWith("a=candidate:") || line === "a=end-of-candidates") continue;
    if (line.startsWith("a=ice-ufrag:")) out.push(`a=ice-ufrag:${frag.ufrag}`);
    else if (line.startsWith("a=ice-pwd:")) out.push(`a=ice-pwd:${frag.pwd}`);
    else out.push(line);
  }
  if (section === 0) out.push(...frag.candidates.map((c) => `a=${c}`), "a=end-of-candidates");
  return out.join("\r\n") + "\r\n";
}

/**
 * Puts the codecs of `mimeType` first in the transceiver's preferences (keeping RTX/RED/FEC
 * and the others as fallbacks). Does nothing where `setCodecPreferences` is missing.
 * @param {RTCRtpTransceiver} transceiver
 * @param {"audio" | "video"} kind
 * @param {string} mimeType
 */
export function preferCodec(transceiver, kind, mimeType) {
  const caps = globalThis.RTCRtpSender?.getCapabilities?.(kind);
  if (!caps || !transceiver.setCodecPreferences) return;
  const want = mimeType.toLowerCase();
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === want);
  if (first.length === 0) return;
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== want);
  transceiver.setCodecPreferences([...first, ...rest]);
}

/**
 * The send codecs this browser has for `kind`, without RTX/RED/FEC, one entry per MIME type.
 * @param {"audio" | "video"} kind
 * @returns {string[]}
 */
export function sendCodecs(kind) {
  const caps = globalThis.RTCRtpSender?.getCapabilities?.(kind)?.codecs ?? [];
  const names = caps.map((c) => c.mimeType).filter((m) => !/rtx|red|ulpfec|flexfec|cn$/i.test(m));
  return [...new Set(names)];
}

/**
 * Parses a `text/event-stream` body into `{ event, data, id }` messages (the WHATWG algorithm:
 * `event:`, `data:` (joined by newlines), `id:`, comments and `retry:` ignored).
 * @param {ReadableStream<Uint8Array> | null} body
 * @param {AbortSignal} [signal]
 * @returns {AsyncGenerator<{ event: string; data: string; id?: string }>}
 */
export async function* parseSse(body, signal) {
  if (!body) return;
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel);
  let buffer = "";
  let event = "";
  /** @type {string[]} */
  let data = [];
  /** @type {string | undefined} */
  let id;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let nl;
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          if (data.length > 0) yield { event: event || "message", data: data.join("\n"), id };
          event = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
        else if (field === "id") id = value;
      }
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}

/**
 * Resolves true when `pc` is connected within `ms`, false otherwise.
 * @param {RTCPeerConnection | null} pc
 * @param {number} ms
 * @returns {Promise<boolean>}
 */
function waitConnected(pc, ms) {
  return new Promise((resolve) => {
    if (!pc) return resolve(false);
    const ok = () =>
      pc.connectionState === "connected" || pc.iceConnectionState === "connected" ||
      pc.iceConnectionState === "completed";
    if (ok()) return resolve(true);
    const check = () => {
      if (ok()) done(true);
      else if (pc.connectionState === "closed") done(false);
    };
    const timer = setTimeout(() => done(false), ms);
    /** @param {boolean} value */
    const done = (value) => {
      clearTimeout(timer);
      pc.removeEventListener("iceconnectionstatechange", check);
      pc.removeEventListener("connectionstatechange", check);
      resolve(value);
    };
    pc.addEventListener("iceconnectionstatechange", check);
    pc.addEventListener("connectionstatechange", check);
  });
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
