/**
 * The publish page: camera, microphone or screen → WHIP, with device pickers, codec and
 * simulcast choices, live stats and automatic reconnection.
 *
 * Link parameters: `room`, `token`, and optionally `quality` (360, 720, 1080), `codec` (VP8, VP9,
 * H264, AV1), `simulcast=1`.
 */
import { sendCodecs, WhipClient } from "../lib/whip-whep.js";
import { StatsMeter } from "../lib/stats.js";
import { setupRecording } from "./publish-recording.js";
import {
  $,
  fillDevices,
  linkParams,
  mediaUnavailable,
  pageLink,
  rememberInUrl,
  renderStats,
  setPill,
  showError,
  showMessage,
  tokenSummary,
} from "./ui.js";

/** Video codecs this server forwards. */
const FORWARDED = ["video/VP8", "video/VP9", "video/H264", "video/AV1"];
const SIZES = { "360": [640, 360], "720": [1280, 720], "1080": [1920, 1080] };

const els = {
  status: $("status"),
  error: $("error"),
  preview: /** @type {HTMLVideoElement} */ ($("preview")),
  overlay: $("overlay"),
  go: /** @type {HTMLButtonElement} */ ($("go")),
  stop: /** @type {HTMLButtonElement} */ ($("stop")),
  mic: $("mic"),
  cam: $("cam"),
  hint: $("hint"),
  room: /** @type {HTMLInputElement} */ ($("room")),
  token: /** @type {HTMLInputElement} */ ($("token")),
  who: $("who"),
  source: /** @type {HTMLSelectElement} */ ($("source")),
  camera: /** @type {HTMLSelectElement} */ ($("camera")),
  microphone: /** @type {HTMLSelectElement} */ ($("microphone")),
  quality: /** @type {HTMLSelectElement} */ ($("quality")),
  codec: /** @type {HTMLSelectElement} */ ($("codec")),
  simulcast: /** @type {HTMLInputElement} */ ($("simulcast")),
  stats: $("stats"),
};

/** What the page holds. */
const state = {
  /** @type {MediaStream} the published stream: one audio and one video track. */
  stream: new MediaStream(),
  /** @type {WhipClient | null} */
  whip: null,
  meter: new StatsMeter("outbound"),
  /** @type {string | null} the demo's viewer token (demo mode, on the server's machine) */
  demoViewerToken: null,
  /** @type {Promise<void> | null} the first opening of the devices */
  opening: null,
};
// for people debugging in the console, and for the browser tests
Object.assign(globalThis, { publishPage: state });

// ---- setup from the link ----
const params = linkParams();
els.room.value = params.room;
els.token.value = params.token;
for (const mime of sendCodecs("video").filter((m) => FORWARDED.includes(m))) {
  const o = document.createElement("option");
  o.value = mime;
  o.textContent = mime.split("/")[1];
  els.codec.append(o);
}
const wanted = params.get("codec");
if (wanted) els.codec.value = `video/${wanted.toUpperCase()}`;
if (params.get("quality") && params.get("quality") in SIZES) {
  els.quality.value = /** @type {string} */ (params.get("quality"));
}
els.simulcast.checked = params.get("simulcast") === "1";
showWho();

// ---- media ----

/** @param {"audio" | "video"} kind */
function currentTrack(kind) {
  return state.stream.getTracks().find((t) => t.kind === kind);
}

/** Puts `track` in the stream (and on the wire when live), stopping the one it replaces. */
async function useTrack(/** @type {MediaStreamTrack} */ track) {
  const old = currentTrack(/** @type {"audio" | "video"} */ (track.kind));
  if (state.whip) await state.whip.replaceTrack(track);
  else {
    if (old) state.stream.removeTrack(old);
    state.stream.addTrack(track);
  }
  if (old && old !== track) old.stop();
  if (track.kind === "audio") track.enabled = els.mic.getAttribute("aria-pressed") !== "true";
  if (track.kind === "video") track.enabled = els.cam.getAttribute("aria-pressed") !== "true";
  els.preview.srcObject = state.stream;
}

function videoConstraints() {
  const [width, height] = SIZES[/** @type {keyof SIZES} */ (els.quality.value)] ?? SIZES["720"];
  return {
    deviceId: els.camera.value ? { exact: els.camera.value } : undefined,
    width: { ideal: width },
    height: { ideal: height },
    frameRate: { ideal: 30 },
  };
}

/** Says why the camera cannot open, in the message box and on the preview. */
function showUnavailable(/** @type {{ title: string; text: string }} */ why) {
  showMessage(els.error, why.title, why.text);
  els.overlay.querySelector("strong").textContent = "No camera on plain http";
  els.overlay.querySelector("span").textContent = "Publishing needs HTTPS: see above.";
}

/** Opens the chosen camera and microphone (or the screen) and shows the preview. */
async function openDevices({ audio = true, video = true } = {}) {
  showError(els.error, null, "publish");
  const unavailable = mediaUnavailable();
  if (unavailable) {
    showUnavailable(unavailable);
    throw new Error(unavailable.title);
  }
  try {
    if (video && els.source.value === "screen") {
      const screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      const track = screen.getVideoTracks()[0];
      track.contentHint = "detail";
      track.addEventListener("ended", () => {
        els.source.value = "camera";
        openDevices({ audio: false }).catch(() => {});
      });
      await useTrack(track);
      video = false;
    }
    if (audio || video) {
      const got = await navigator.mediaDevices.getUserMedia({
        audio: audio
          ? {
            deviceId: els.microphone.value ? { exact: els.microphone.value } : undefined,
            echoCancellation: true,
            noiseSuppression: true,
          }
          : false,
        video: video ? videoConstraints() : false,
      });
      for (const track of got.getTracks()) await useTrack(track);
    }
    els.preview.classList.toggle("mirror", els.source.value === "camera");
    els.overlay.hidden = true;
    const devices = await navigator.mediaDevices.enumerateDevices();
    fillDevices(els.camera, devices, "videoinput", currentTrack("video")?.getSettings().deviceId);
    fillDevices(
      els.microphone,
      devices,
      "audioinput",
      currentTrack("audio")?.getSettings().deviceId,
    );
  } catch (error) {
    showError(els.error, error, "publish");
    throw error;
  }
}

/** A running camera is asked for the new size (a second capture would get the running one). */
async function changeQuality() {
  const track = currentTrack("video");
  if (track?.readyState === "live" && els.source.value === "camera") {
    const { deviceId: _, ...size } = videoConstraints();
    try {
      await track.applyConstraints(size);
      return;
    } catch { /* fall back to opening the camera again */ }
  }
  await openDevices({ audio: false }).catch(() => {});
}

// ---- publishing ----

function showWho() {
  const token = els.token.value.trim();
  els.who.textContent = token ? `Token: ${tokenSummary(token).text}` : "";
  const room = els.room.value.trim();
  els.hint.replaceChildren();
  if (!room || !token) return;
  // A link for viewers never carries this page's token (a host's token would let anyone manage
  // the room): the demo's viewer token when there is one, else how to mint one.
  const demoViewer = state.demoViewerToken && room === "demo" ? state.demoViewerToken : null;
  if (demoViewer) {
    const a = document.createElement("a");
    a.href = pageLink("watch.html", room, demoViewer);
    a.textContent = "viewer link";
    a.id = "viewer-link";
    els.hint.append("Share the ", a, " (a watch-only token) with your viewers.");
  } else {
    const code = document.createElement("code");
    code.textContent =
      `npx -y deno task token --role viewer --room ${room} --sub audience --ttl 12h`;
    const watch = document.createElement("a");
    watch.href = new URL("watch.html", location.href).href;
    watch.textContent = "watch page";
    els.hint.append(
      "Viewers open the ",
      watch,
      " with a viewer token of this room, minted with ",
      code,
      " (JWT_SECRET set as the server's).",
    );
  }
}

/** @param {string} s */
function onState(s) {
  const text = {
    connecting: "Connecting",
    connected: "Live",
    restarting: "Reconnecting",
    reconnecting: "Reconnecting",
    failed: "Failed",
    closed: "Offline",
  }[s] ?? s;
  setPill(els.status, s === "connected" ? "live" : s === "closed" ? "idle" : s, text);
  if (s === "connected") showError(els.error, null, "publish");
}

async function goLive() {
  const room = els.room.value.trim();
  const token = els.token.value.trim();
  if (!room || !token) {
    showMessage(
      els.error,
      !room && !token ? "Room and token needed" : !room ? "Room needed" : "Token needed",
      "Enter the room name and your token (in Room, on the right) before going live.",
    );
    (!room ? els.room : els.token).focus();
    return;
  }
  rememberInUrl(room, token);
  showWho();
  els.go.disabled = true;
  try {
    await state.opening;
    if (!currentTrack("video") && !currentTrack("audio")) await openDevices();
  } catch {
    els.go.disabled = false;
    return;
  }
  const whip = new WhipClient(`/whip/${encodeURIComponent(room)}`, { token });
  state.whip = whip;
  whip.addEventListener("state", () => onState(whip.state));
  whip.addEventListener("error", (e) => {
    const error = /** @type {CustomEvent} */ (e).detail;
    // trickle hiccups are not worth a red box while media flows
    if (whip.state !== "connected") showError(els.error, error, "publish");
  });
  els.stop.disabled = false;
  try {
    await whip.publish(state.stream, {
      videoCodec: els.codec.value || undefined,
      simulcast: els.simulcast.checked,
    });
  } catch (error) {
    showError(els.error, error, "publish");
    setPill(els.status, "error", "Not live");
    if (state.whip === whip) state.whip = null;
    els.go.disabled = false;
    els.stop.disabled = true;
  }
}

async function stop() {
  const whip = state.whip;
  state.whip = null;
  els.go.disabled = false;
  els.stop.disabled = true;
  if (whip) await whip.stop();
  setPill(els.status, "idle", "Offline");
}

/** Codec and simulcast are negotiated: changing them while live publishes again. */
async function republish() {
  if (!state.whip) return;
  const old = state.whip;
  state.whip = null;
  await old.stop();
  await goLive();
}

// ---- controls ----
els.go.addEventListener("click", goLive);
els.stop.addEventListener("click", stop);
els.mic.addEventListener("click", () => {
  const muted = els.mic.getAttribute("aria-pressed") !== "true";
  els.mic.setAttribute("aria-pressed", String(muted));
  els.mic.textContent = muted ? "Unmute mic" : "Mute mic";
  const track = currentTrack("audio");
  if (track) track.enabled = !muted;
});
els.cam.addEventListener("click", () => {
  const off = els.cam.getAttribute("aria-pressed") !== "true";
  els.cam.setAttribute("aria-pressed", String(off));
  els.cam.textContent = off ? "Turn camera on" : "Turn camera off";
  const track = currentTrack("video");
  if (track) track.enabled = !off;
});
els.source.addEventListener("change", () => openDevices({ audio: false }).catch(() => {}));
els.camera.addEventListener("change", () => openDevices({ audio: false }).catch(() => {}));
els.quality.addEventListener("change", changeQuality);
els.microphone.addEventListener("change", () => openDevices({ video: false }).catch(() => {}));
els.codec.addEventListener("change", republish);
els.simulcast.addEventListener("change", republish);
els.token.addEventListener("input", showWho);
const recording = setupRecording({
  start: /** @type {HTMLButtonElement} */ ($("record")),
  stop: /** @type {HTMLButtonElement} */ ($("record-stop")),
  list: $("recordings"),
  note: $("record-note"),
}, () => ({ room: els.room.value.trim(), token: els.token.value.trim() }));
recording.refresh().catch(() => {});
els.token.addEventListener("change", () => recording.refresh().catch(() => {}));
els.room.addEventListener("change", () => recording.refresh().catch(() => {}));
els.room.addEventListener("input", showWho);
navigator.mediaDevices?.addEventListener?.("devicechange", async () => {
  const devices = await navigator.mediaDevices.enumerateDevices();
  fillDevices(els.camera, devices, "videoinput", els.camera.value);
  fillDevices(els.microphone, devices, "audioinput", els.microphone.value);
});

setInterval(async () => {
  renderStats(els.stats, await state.meter.sample(state.whip?.pc ?? null));
}, 1000);
renderStats(els.stats, await state.meter.sample(null));

// In demo mode, on the server's machine, the demo's viewer token gives a link to share.
fetch("/demo.json").then((r) => r.ok ? r.json() : null).then((demo) => {
  if (demo?.viewerToken) {
    state.demoViewerToken = demo.viewerToken;
    showWho();
  }
}).catch(() => {});

// Without a secure context the camera cannot open: say so at once, not on "Go live".
const unavailable = mediaUnavailable();
if (unavailable) {
  showUnavailable(unavailable);
} else if (params.room && params.token) {
  // With a link that carries room and token, show the camera at once.
  state.opening = openDevices().catch(() => {});
}
