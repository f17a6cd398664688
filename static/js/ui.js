/**
 * What the three pages share: the link parameters, people-readable error messages, the status
 * pill, the stats list and the token summary.
 *
 * @module
 */
import { HttpError } from "../lib/whip-whep.js";
import { decodeToken } from "../lib/room.js";
import { describe } from "../lib/stats.js";

/**
 * `document.getElementById` that fails loudly.
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return /** @type {T} */ (el);
}

/**
 * The `room` and `token` of the link (`?room=…&token=…`; the token may also come as `#token=…`),
 * and any other parameter.
 */
export function linkParams() {
  const query = new URLSearchParams(location.search);
  const hash = new URLSearchParams(location.hash.slice(1));
  return {
    room: query.get("room") ?? "",
    token: query.get("token") ?? hash.get("token") ?? "",
    /** @param {string} name */
    get: (name) => query.get(name),
  };
}

/**
 * Writes the room into the address bar (so a reload keeps it). A token is never written there:
 * one typed into the page stays out of the address bar, history and screenshots; one that came
 * with the link stays only while the page still uses it.
 * @param {string} room
 * @param {string} token the token the page now uses
 */
export function rememberInUrl(room, token) {
  const url = new URL(location.href);
  url.searchParams.set("room", room);
  if (url.searchParams.get("token") !== token) url.searchParams.delete("token");
  history.replaceState(null, "", url);
}

/**
 * How to name a room's host in a sentence: "the host" when its identity is just "host" (as in
 * the demo), else "alice (host)".
 * @param {string | undefined} sub
 */
export function hostLabel(sub) {
  if (!sub || /^host$/i.test(sub)) return "the host";
  return `${sub} (host)`;
}

/**
 * Why this page cannot reach the camera and microphone, or null when it can. Browsers give
 * `getUserMedia` only to secure contexts: HTTPS, or http://localhost and 127.0.0.1.
 * @returns {{ title: string; text: string } | null}
 */
export function mediaUnavailable() {
  if (globalThis.isSecureContext && navigator.mediaDevices?.getUserMedia) return null;
  const local = `http://localhost${location.port ? `:${location.port}` : ""}`;
  return {
    title: "The camera needs HTTPS",
    text: globalThis.isSecureContext
      ? "This browser offers no camera or microphone access (navigator.mediaDevices is missing)."
      : `The browser gives the camera and microphone only to pages opened over HTTPS or from ` +
        `this machine's own address: this page was opened as ${location.origin}. Open it over ` +
        `HTTPS, or as ${local} on the server's machine; the README's “HTTPS” section explains ` +
        `how. Watching works without it.`,
  };
}

/**
 * Shows a message of the page's own (not an error of the API) in the error box.
 * @param {HTMLElement} box an element with a `<strong>` and a `<span>`.
 * @param {string} title
 * @param {string} text
 */
export function showMessage(box, title, text) {
  box.querySelector("strong").textContent = title;
  box.querySelector("span").textContent = text;
  box.dataset.status = "";
  box.hidden = false;
}

/**
 * Who a token says its bearer is, for display ("alice · participant · room demo").
 * @param {string} token
 */
export function tokenSummary(token) {
  const claims = decodeToken(token);
  if (!claims) return { claims: null, text: "not a JWT", expired: false };
  const expired = typeof claims.exp === "number" && claims.exp * 1000 < Date.now();
  const parts = claims.sub === claims.role
    ? [claims.role ?? "?", `room ${claims.room ?? "?"}`]
    : [claims.sub ?? "?", claims.role ?? "?", `room ${claims.room ?? "?"}`];
  if (typeof claims.exp === "number") {
    parts.push(expired ? "expired" : `valid until ${new Date(claims.exp * 1000).toLocaleString()}`);
  }
  return { claims, text: parts.join(" · "), expired };
}

/**
 * A message for people about an error of the API (or of the browser).
 * @param {unknown} error
 * @param {"publish" | "watch" | "join" | "close"} action what the page was doing.
 * @returns {{ title: string; text: string }}
 */
export function explain(error, action) {
  if (error instanceof DOMException || (error instanceof Error && !(error instanceof HttpError))) {
    const name = /** @type {Error} */ (error).name;
    if (name === "NotAllowedError") {
      return {
        title: "Camera or microphone blocked",
        text: "Allow access to the camera and microphone in the browser, then try again.",
      };
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return {
        title: "No camera or microphone",
        text: "No matching device was found. Pick another one or plug one in.",
      };
    }
    if (name === "NotReadableError") {
      return {
        title: "Device busy",
        text: "Another application is using the camera or microphone.",
      };
    }
    return { title: "Something went wrong", text: /** @type {Error} */ (error).message };
  }
  if (!(error instanceof HttpError)) return { title: "Something went wrong", text: String(error) };
  const detail = error.detail ? ` (${error.detail})` : "";
  const retry = error.retryAfter ? ` Trying again in ${error.retryAfter} s.` : " Trying again.";
  switch (error.status) {
    case 0:
      return {
        title: "Cannot reach the server",
        text: "Check the network connection. Trying again.",
      };
    case 400:
      return { title: "The server refused the request", text: error.detail || error.title };
    case 401:
      if (/expired/i.test(error.detail)) {
        return {
          title: "Token expired",
          text: "This link's token has expired. Ask the host for a new link.",
        };
      }
      if (/missing/i.test(error.detail)) {
        return { title: "Token missing", text: "Paste the token you were given, then try again." };
      }
      return {
        title: "Invalid token",
        text: `The server does not accept this token${detail}. Check the link you were given.`,
      };
    case 403:
      return {
        title: "Not allowed",
        text: `${capitalise(error.detail || "this token does not allow that")}.`,
      };
    case 404:
      if (action === "publish" || action === "join") {
        return {
          title: "The room is not open",
          text: "The host has not opened this room yet (or it has ended).",
        };
      }
      return { title: "Not found", text: error.detail || "The room or session does not exist." };
    case 406:
      return {
        title: "No common codec",
        text: `The browser and the server share no codec for this${detail}.`,
      };
    case 409:
      if (error.code === "room-owned") {
        return { title: "Room taken", text: "Another host already has this room open." };
      }
      return {
        title: "The room is full",
        text: `${capitalise(error.detail || "no more participants fit")}. Try again later.`,
      };
    case 413:
    case 415:
    case 422:
      return { title: `Request refused (${error.status})`, text: error.detail || error.title };
    case 429:
      return { title: "The server is busy", text: `Too many sessions right now.${retry}` };
    case 503:
      return { title: "The server is restarting", text: `It refuses new sessions.${retry}` };
    default:
      return {
        title: `Server error ${error.status}`,
        text: (error.detail || error.title) + (error.retryable ? retry : ""),
      };
  }
}

/** @param {string} text */
function capitalise(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Shows `error` (or hides the box when `error` is null).
 * @param {HTMLElement} box an element with a `<strong>` and a `<span>`.
 * @param {unknown} error
 * @param {"publish" | "watch" | "join" | "close"} action
 */
export function showError(box, error, action) {
  if (error === null || error === undefined) {
    box.hidden = true;
    return;
  }
  const { title, text } = explain(error, action);
  box.querySelector("strong").textContent = title;
  box.querySelector("span").textContent = text;
  box.dataset.status = error instanceof HttpError ? String(error.status) : "";
  box.hidden = false;
}

/**
 * Sets a status pill: `data-state` (styling and tests) and its text.
 * @param {HTMLElement} pill
 * @param {string} state
 * @param {string} text
 */
export function setPill(pill, state, text) {
  pill.dataset.state = state;
  pill.textContent = text;
}

/**
 * Renders a stats sample into a `<dl>`.
 * @param {HTMLElement} dl
 * @param {import("../lib/stats.js").Sample} sample
 */
export function renderStats(dl, sample) {
  const rows = describe(sample);
  if (sample.layers > 1) rows.splice(1, 0, ["Layers", String(sample.layers)]);
  if (sample.limitation) rows.push(["Limited by", sample.limitation]);
  dl.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    return [dt, dd];
  }));
}

/**
 * Fills a `<select>` with devices of a kind, keeping the current choice when it still exists.
 * @param {HTMLSelectElement} select
 * @param {MediaDeviceInfo[]} devices
 * @param {MediaDeviceKind} kind
 * @param {string} [current]
 */
export function fillDevices(select, devices, kind, current) {
  const list = devices.filter((d) => d.kind === kind);
  select.replaceChildren(...list.map((d, i) => {
    const o = document.createElement("option");
    o.value = d.deviceId;
    o.textContent = d.label || `${kind === "audioinput" ? "Microphone" : "Camera"} ${i + 1}`;
    return o;
  }));
  if (current && list.some((d) => d.deviceId === current)) select.value = current;
}

/**
 * Builds a link to one of the pages with room and token.
 * @param {string} page e.g. `watch.html`
 * @param {string} room
 * @param {string} token
 */
export function pageLink(page, room, token) {
  const url = new URL(page, location.href);
  url.search = new URLSearchParams({ room, token }).toString();
  return url.href;
}
