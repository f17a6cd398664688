/**
 * The room page: a two-way call. Each member publishes its own camera (WHIP) and plays every
 * other publisher of the room (WHEP `?publisher=`), tiles appearing and leaving with the room's
 * events. The host can end the room for everyone.
 *
 * Link parameters: `room`, `token`, and optionally `quality` (360, 480, 720).
 */
import { HttpError, WhepClient, WhipClient } from "../lib/whip-whep.js";
import { RoomClient } from "../lib/room.js";
import {
  $,
  hostLabel,
  linkParams,
  mediaUnavailable,
  rememberInUrl,
  setPill,
  showError,
  showMessage,
  tokenSummary,
} from "./ui.js";

/** @param {string} text */
const capitalise = (text) => text.charAt(0).toUpperCase() + text.slice(1);

const SIZES = { "360": [640, 360], "480": [640, 480], "720": [1280, 720] };

const els = {
  title: $("title"),
  status: $("status"),
  who: $("who"),
  error: $("error"),
  joinForm: /** @type {HTMLFormElement} */ ($("join-form")),
  room: /** @type {HTMLInputElement} */ ($("room")),
  token: /** @type {HTMLInputElement} */ ($("token")),
  lobby: $("lobby"),
  join: /** @type {HTMLButtonElement} */ ($("join")),
  tiles: $("tiles"),
  controls: $("controls"),
  mic: $("mic"),
  cam: $("cam"),
  leave: $("leave"),
  end: /** @type {HTMLButtonElement} */ ($("end")),
  count: $("count"),
  ended: $("ended"),
  endedTitle: $("ended-title"),
  endedText: $("ended-text"),
  rejoin: $("rejoin"),
};

/**
 * @typedef {object} Tile
 * @property {HTMLElement} el
 * @property {HTMLVideoElement} video
 * @property {HTMLElement} overlay
 * @property {WhepClient | null} whep
 */

const state = {
  roomName: "",
  token: "",
  /** @type {ReturnType<typeof tokenSummary>["claims"]} */
  me: null,
  /** @type {MediaStream | null} */
  local: null,
  /** @type {WhipClient | null} */
  whip: null,
  /** @type {RoomClient | null} */
  room: null,
  /** @type {Map<string, Tile>} remote tiles by publisher */
  tiles: new Map(),
  /** @type {Tile | null} */
  self: null,
  /** @type {"lobby" | "joining" | "waiting" | "live" | "reconnecting" | "ended" | "left" | "error"} */
  phase: "lobby",
};
Object.assign(globalThis, { roomPage: state });

const params = linkParams();

/**
 * @param {typeof state.phase} phase
 * @param {string} text
 * @param {string} [pill]
 */
function phase(phase, text, pill = phase) {
  state.phase = phase;
  document.body.dataset.phase = phase;
  setPill(els.status, pill, text);
}

/** Creates a video tile. */
function makeTile(/** @type {string} */ label, /** @type {string} */ publisher) {
  const el = document.createElement("div");
  el.className = "stage";
  el.dataset.publisher = publisher;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = label;
  const overlay = document.createElement("div");
  overlay.className = "overlay";
  overlay.innerHTML = "<strong>Connecting…</strong>";
  el.append(video, overlay, name);
  els.tiles.append(el);
  return { el, video, overlay, whep: null };
}

/** @param {Tile} tile @param {string} [text] */
function tileOverlay(tile, text) {
  tile.overlay.hidden = !text;
  tile.overlay.querySelector("strong").textContent = text ?? "";
}

function updateCount() {
  const view = state.room?.view;
  const others = state.tiles.size;
  els.count.textContent = view?.open
    ? `${others + 1} in the call · ${view.participants ?? 0}/${
      view.maxParticipants ?? "?"
    } participants`
    : "";
}

/** Plays `publisher` in a new tile (once). */
function addRemote(/** @type {string} */ publisher) {
  if (publisher === state.me?.sub || state.tiles.has(publisher) || !state.room) return;
  const host = state.room.view?.host;
  const tile = makeTile(
    publisher === host ? capitalise(hostLabel(publisher)) : publisher,
    publisher,
  );
  state.tiles.set(publisher, tile);
  const whep = new WhepClient(
    `/whep/${encodeURIComponent(state.roomName)}?publisher=${encodeURIComponent(publisher)}`,
    { token: state.token },
  );
  tile.whep = whep;
  tile.video.srcObject = whep.stream;
  whep.addEventListener("track", () => {
    tile.video.srcObject = whep.stream;
    tile.video.play().catch(() => {
      // autoplay with sound refused: play muted rather than not at all
      tile.video.muted = true;
      tile.video.play().catch(() => {});
    });
  });
  whep.addEventListener("state", () => {
    const s = whep.state;
    tileOverlay(
      tile,
      s === "connected"
        ? undefined
        : s === "failed"
        ? "Connection failed"
        : s === "connecting"
        ? "Connecting…"
        : "Reconnecting…",
    );
  });
  whep.play().catch((error) => {
    tileOverlay(tile, error instanceof HttpError ? error.title : "Cannot play");
  });
  updateCount();
}

/** Removes the tile of `publisher` and ends its player. */
function removeRemote(/** @type {string} */ publisher) {
  const tile = state.tiles.get(publisher);
  if (!tile) return;
  state.tiles.delete(publisher);
  tile.whep?.stop();
  tile.el.remove();
  updateCount();
}

/** Makes the tiles match the room's publications. */
function syncTiles() {
  const live = new Set((state.room?.view?.publications ?? []).map((p) => p.publisher));
  for (const publisher of [...state.tiles.keys()]) {
    if (!live.has(publisher)) removeRemote(publisher);
  }
  for (const publisher of live) addRemote(publisher);
  updateCount();
}

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function join() {
  const unavailable = mediaUnavailable();
  if (unavailable) {
    showMessage(els.error, unavailable.title, unavailable.text);
    return;
  }
  els.lobby.hidden = true;
  els.ended.hidden = true;
  showError(els.error, null, "join");
  phase("joining", "Joining", "connecting");
  const room = new RoomClient(state.roomName, { token: state.token });
  state.room = room;
  try {
    // the camera first: the call is pointless without it, and it shows something at once
    const [width, height] = SIZES[/** @type {keyof SIZES} */ (params.get("quality") ?? "480")] ??
      SIZES["480"];
    state.local = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 30 } },
    });
    state.self = makeTile(`You (${state.me?.sub ?? "?"})`, "");
    state.self.video.muted = true;
    state.self.video.classList.add("mirror");
    state.self.video.srcObject = state.local;
    els.controls.hidden = false;
    els.end.hidden = state.me?.role !== "host";

    // a participant waits for the host to open the room
    let view = await room.get();
    while (!view.open && state.me?.role !== "host" && state.phase !== "left") {
      phase("waiting", "Waiting for the host", "waiting");
      tileOverlay(state.self, "Waiting for the host to open the room…");
      await sleep(2000);
      view = await room.get();
    }
    if (state.phase === "left") return;

    // publish
    const whip = new WhipClient(`/whip/${encodeURIComponent(state.roomName)}`, {
      token: state.token,
    });
    state.whip = whip;
    whip.addEventListener("state", () => {
      const s = whip.state;
      if (!state.self || state.phase === "ended") return;
      tileOverlay(
        state.self,
        s === "connected" ? undefined : s === "failed" ? "Not sent" : "Connecting…",
      );
      if (s === "connected") {
        showError(els.error, null, "join");
        phase("live", "In the call", "live");
      } else if (s === "reconnecting" || s === "restarting") {
        phase("reconnecting", "Reconnecting", "reconnecting");
      }
    });
    whip.addEventListener("error", (e) => {
      if (whip.state !== "connected") {
        showError(els.error, /** @type {CustomEvent} */ (e).detail, "join");
      }
    });
    await whip.publish(state.local);

    // everyone else, live
    room.addEventListener("room", syncTiles);
    room.addEventListener("publication-started", (e) => {
      addRemote(/** @type {CustomEvent} */ (e).detail.publisher);
    });
    room.addEventListener("publication-ended", (e) => {
      removeRemote(/** @type {CustomEvent} */ (e).detail.publisher);
    });
    room.addEventListener("participant-joined", updateCount);
    room.addEventListener("participant-left", updateCount);
    room.addEventListener("room-closed", () => finish("ended"));
    room.follow();
  } catch (error) {
    showError(els.error, error, "join");
    await hangUp();
    phase("error", "Not joined", "error");
    els.lobby.hidden = false;
  }
}

/** Ends every session of this page and releases the devices. */
async function hangUp() {
  state.room?.unfollow();
  const whip = state.whip;
  state.whip = null;
  for (const publisher of [...state.tiles.keys()]) removeRemote(publisher);
  await whip?.stop();
  for (const t of state.local?.getTracks() ?? []) t.stop();
  state.local = null;
  state.self?.el.remove();
  state.self = null;
  els.controls.hidden = true;
}

/** @param {"ended" | "left"} how */
async function finish(how) {
  if (state.phase === "ended") return;
  phase(how, how === "ended" ? "Ended" : "Left", "idle");
  await hangUp();
  els.endedTitle.textContent = how === "ended" ? "The room has ended" : "You left the call";
  els.endedText.textContent = how === "ended"
    ? "The host closed the room for everyone."
    : "The others are still there.";
  els.rejoin.hidden = how === "ended";
  els.ended.hidden = false;
}

// ---- controls ----
els.join.addEventListener("click", join);
els.rejoin.addEventListener("click", join);
els.leave.addEventListener("click", () => finish("left"));
els.mic.addEventListener("click", () => {
  const muted = els.mic.getAttribute("aria-pressed") !== "true";
  els.mic.setAttribute("aria-pressed", String(muted));
  els.mic.textContent = muted ? "Unmute mic" : "Mute mic";
  for (const t of state.local?.getAudioTracks() ?? []) t.enabled = !muted;
});
els.cam.addEventListener("click", () => {
  const off = els.cam.getAttribute("aria-pressed") !== "true";
  els.cam.setAttribute("aria-pressed", String(off));
  els.cam.textContent = off ? "Turn camera on" : "Turn camera off";
  for (const t of state.local?.getVideoTracks() ?? []) t.enabled = !off;
});
/** @type {ReturnType<typeof setTimeout> | undefined} */
let confirmTimer;
els.end.addEventListener("click", async () => {
  // two clicks: the first one asks
  if (els.end.dataset.confirm !== "1") {
    els.end.dataset.confirm = "1";
    els.end.textContent = "End for everyone?";
    confirmTimer = setTimeout(() => {
      delete els.end.dataset.confirm;
      els.end.textContent = "End room";
    }, 5000);
    return;
  }
  clearTimeout(confirmTimer);
  els.end.disabled = true;
  try {
    await state.room?.close();
    await finish("ended");
  } catch (error) {
    showError(els.error, error, "close");
  } finally {
    els.end.disabled = false;
    delete els.end.dataset.confirm;
    els.end.textContent = "End room";
  }
});
els.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  rememberInUrl(els.room.value.trim(), els.token.value.trim());
  setup(els.room.value.trim(), els.token.value.trim());
});

/** Shows the lobby for a room and token. */
function setup(/** @type {string} */ roomName, /** @type {string} */ token) {
  state.roomName = roomName;
  state.token = token;
  const summary = tokenSummary(token);
  state.me = summary.claims;
  els.title.textContent = roomName;
  els.who.textContent = summary.claims
    ? `${summary.claims.sub ?? "?"} · ${summary.claims.role ?? "?"}`
    : "token unreadable";
  els.joinForm.hidden = true;
  els.lobby.hidden = false;
  phase("lobby", "Not joined", "idle");
  const unavailable = mediaUnavailable();
  if (unavailable) showMessage(els.error, unavailable.title, unavailable.text);
}

if (params.room && params.token) {
  setup(params.room, params.token);
} else {
  els.room.value = params.room;
  els.token.value = params.token;
  els.joinForm.hidden = false;
}
