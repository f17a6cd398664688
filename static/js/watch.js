/**
 * The watch page: a WHEP player with stats, mute, fullscreen, a layer picker (when the server
 * offers the WHEP layer extension), automatic reconnection, and a "waiting for the host" state
 * until the publication is live.
 *
 * Link parameters: `room`, `token`, and optionally `publisher` (an identity; the host by default).
 */
import { HttpError, WhepClient } from "../lib/whip-whep.js";
import { RoomClient } from "../lib/room.js";
import { StatsMeter } from "../lib/stats.js";
import {
  $,
  hostLabel,
  linkParams,
  rememberInUrl,
  renderStats,
  setPill,
  showError,
  tokenSummary,
} from "./ui.js";

const els = {
  title: $("title"),
  status: $("status"),
  error: $("error"),
  join: /** @type {HTMLFormElement} */ ($("join")),
  room: /** @type {HTMLInputElement} */ ($("room")),
  token: /** @type {HTMLInputElement} */ ($("token")),
  stage: $("stage"),
  video: /** @type {HTMLVideoElement} */ ($("video")),
  overlay: $("overlay"),
  overlayTitle: $("overlay-title"),
  overlayText: $("overlay-text"),
  layer: /** @type {HTMLSelectElement} */ ($("layer")),
  mute: $("mute"),
  fullscreen: $("fullscreen"),
  who: $("who"),
  stats: $("stats"),
  roomInfo: $("room-info"),
};

const state = {
  /** @type {WhepClient | null} */
  whep: null,
  /** @type {RoomClient | null} */
  room: null,
  roomName: "",
  token: "",
  /** the layer the viewer pinned ("" for automatic) */
  layer: "",
  /** @type {number | undefined} players of the publication (WHEP `viewercount` event) */
  viewers: undefined,
  /** @type {string} whose publication is played ("" until the room tells its host) */
  publisher: "",
  /** @type {"idle" | "connecting" | "waiting" | "live" | "reconnecting" | "ended" | "error"} */
  phase: "idle",
  meter: new StatsMeter("inbound"),
  stopped: false,
};
Object.assign(globalThis, { watchPage: state });

const params = linkParams();

/**
 * Shows what the player is doing: pill, overlay and the page's `data-phase`.
 * @param {typeof state.phase} phase
 * @param {string} [title]
 * @param {string} [text]
 */
function show(phase, title = "", text = "") {
  state.phase = phase;
  document.body.dataset.phase = phase;
  const pill = {
    idle: ["idle", "Offline"],
    connecting: ["connecting", "Connecting"],
    waiting: ["waiting", "Waiting"],
    live: ["live", "Live"],
    reconnecting: ["reconnecting", "Reconnecting"],
    ended: ["idle", "Ended"],
    error: ["error", "Error"],
  }[phase];
  setPill(els.status, pill[0], pill[1]);
  els.overlay.hidden = phase === "live";
  els.overlayTitle.textContent = title;
  els.overlayText.textContent = text;
}

/** Live when the player is connected and the publication exists; else say why not. */
function refresh() {
  if (state.stopped) return;
  const view = state.room?.view;
  const publishing = !!view?.publications?.some((p) => p.publisher === state.publisher);
  const who = state.publisher && view?.host === state.publisher ? "the host" : state.publisher;
  if (view) {
    const n = view.publications?.length ?? 0;
    const host = view.host
      ? `${hostLabel(view.host)} is ${view.hostLive ? "live" : "not live"}`
      : "no host yet";
    els.roomInfo.textContent = `${view.room}: ${host}, ${n} publication${n === 1 ? "" : "s"}, ${
      view.participants ?? 0
    } participant${view.participants === 1 ? "" : "s"}${
      state.viewers !== undefined ? `, ${state.viewers} watching this stream` : ""
    }`;
  }
  const whep = state.whep?.state;
  if (!publishing) {
    show(
      "waiting",
      `Waiting for ${who || "the host"}…`,
      "The stream starts as soon as it is live.",
    );
  } else if (whep === "connected") {
    show("live");
  } else if (whep === "reconnecting" || whep === "restarting") {
    show("reconnecting", "Reconnecting…", "The connection dropped; getting it back.");
  } else {
    show("connecting", "Connecting…");
  }
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function start(/** @type {string} */ roomName, /** @type {string} */ token) {
  state.stopped = false;
  state.roomName = roomName;
  state.token = token;
  els.join.hidden = true;
  els.title.textContent = roomName;
  els.who.textContent = `Token: ${tokenSummary(token).text}`;
  show("connecting", "Connecting…");
  const room = new RoomClient(roomName, { token });
  state.room = room;

  // 1. the room must be open (it may not be yet: wait for it)
  let failures = 0;
  while (!state.stopped) {
    try {
      const view = await room.get();
      if (view.open) break;
      show("waiting", "Waiting for the host…", "The room is not open yet.");
      await sleep(2000);
    } catch (error) {
      showError(els.error, error, "watch");
      if (!(error instanceof HttpError) || !error.retryable) {
        show("error", "Cannot watch", "See the message above.");
        return;
      }
      await sleep(Math.min(15_000, 1000 * 2 ** failures++));
    }
  }
  showError(els.error, null, "watch");
  state.publisher = params.get("publisher") ?? room.view?.host ?? "";

  // 2. follow the room: publications starting and ending, the room closing
  for (const type of ["room", "publication-started", "publication-ended"]) {
    room.addEventListener(type, refresh);
  }
  room.addEventListener("room-closed", ended);
  room.follow();

  // 3. play (allowed before the publication is live: media starts when it does)
  const query = params.get("publisher") ? `?publisher=${encodeURIComponent(state.publisher)}` : "";
  const whep = new WhepClient(`/whep/${encodeURIComponent(roomName)}${query}`, { token });
  state.whep = whep;
  els.video.srcObject = whep.stream;
  whep.addEventListener("track", () => {
    els.video.srcObject = whep.stream;
    els.video.play().catch(() => {});
  });
  whep.addEventListener("state", () => {
    if (whep.state === "connected") showError(els.error, null, "watch");
    // given up (e.g. the room closed while we reconnected): start over, waiting for the room
    if (whep.state === "failed" && state.whep === whep) setTimeout(() => restart(whep), 3000);
    refresh();
  });
  whep.addEventListener("layers", updateLayers);
  whep.addEventListener("viewercount", (e) => {
    state.viewers = /** @type {CustomEvent} */ (e).detail?.viewercount;
    refresh();
  });
  whep.addEventListener("error", (e) => {
    if (whep.state !== "connected") {
      showError(els.error, /** @type {CustomEvent} */ (e).detail, "watch");
    }
  });
  try {
    await whep.play();
  } catch (error) {
    showError(els.error, error, "watch");
    if (error instanceof HttpError && error.status === 404) {
      // the room closed between our GET and POST
      ended();
      return;
    }
    show("error", "Cannot play", "See the message above.");
    return;
  }
  updateLayers();
  refresh();
}

/** Drops the player and the room's events, and starts again from the room's state. */
async function restart(/** @type {WhepClient} */ whep) {
  if (state.whep !== whep || state.stopped) return;
  state.room?.unfollow();
  state.whep = null;
  await whep.stop();
  start(state.roomName, state.token);
}

/**
 * The layer picker: shown when the server offers layer selection and (when it tells the
 * layers) the publication has several; options from the `layers` events.
 */
function updateLayers() {
  const whep = state.whep;
  let layers = [
    { rid: "f", label: "High" },
    { rid: "h", label: "Medium" },
    { rid: "q", label: "Low" },
  ];
  if (whep?.eventsUrl) {
    // layers the publisher really sends (a browser drops its top layers for small sources)
    layers = whep.videoLayers.filter((l) => l.rid && (l.width !== undefined || l.bitrate))
      .sort((a, b) =>
        (b.width ?? -1) - (a.width ?? -1) || (b.bitrate ?? 0) - (a.bitrate ?? 0) ||
        "fhq".indexOf(a.rid) - "fhq".indexOf(b.rid)
      )
      .map((l) => ({ rid: l.rid, label: l.height ? `${l.height}p` : l.rid }));
  }
  if (!whep?.layerUrl || layers.length < 2) {
    els.layer.hidden = true;
    return;
  }
  const key = layers.map((l) => `${l.rid}:${l.label}`).join(",");
  if (els.layer.dataset.key !== key) {
    const auto = document.createElement("option");
    auto.value = "";
    auto.textContent = "Auto";
    els.layer.replaceChildren(
      auto,
      ...layers.map((l) => {
        const o = document.createElement("option");
        o.value = l.rid;
        o.textContent = l.label;
        return o;
      }),
    );
    els.layer.value = layers.some((l) => l.rid === state.layer) ? state.layer : "";
    els.layer.dataset.key = key;
  }
  els.layer.hidden = false;
}

async function ended() {
  state.stopped = true;
  state.room?.unfollow();
  const whep = state.whep;
  state.whep = null;
  await whep?.stop();
  els.video.srcObject = null;
  els.layer.hidden = true;
  show("ended", "The room has ended", "The host closed the room. Thanks for watching.");
}

// ---- controls ----
els.mute.addEventListener("click", () => {
  els.video.muted = !els.video.muted;
  els.mute.textContent = els.video.muted ? "Unmute" : "Mute";
  els.video.play().catch(() => {});
});
els.fullscreen.addEventListener("click", () => {
  if (document.fullscreenElement) {
    document.exitFullscreen();
  } else if (els.stage.requestFullscreen) {
    els.stage.requestFullscreen().catch(() => {});
  } else {
    /** @type {any} */ (els.video).webkitEnterFullscreen?.(); // iOS Safari
  }
});
els.layer.addEventListener("change", async () => {
  try {
    state.layer = els.layer.value;
    await state.whep?.selectLayer(state.layer ? { encodingId: state.layer } : {});
  } catch (error) {
    showError(els.error, error, "watch");
  }
});
els.join.addEventListener("submit", (e) => {
  e.preventDefault();
  const room = els.room.value.trim();
  const token = els.token.value.trim();
  rememberInUrl(room, token);
  start(room, token);
});

setInterval(async () => {
  renderStats(els.stats, await state.meter.sample(state.whep?.pc ?? null));
}, 1000);
renderStats(els.stats, await state.meter.sample(null));

if (params.room && params.token) {
  start(params.room, params.token);
} else {
  els.room.value = params.room;
  els.token.value = params.token;
  els.join.hidden = false;
  show("idle", "Nothing to watch yet", "Enter a room and a token.");
}
