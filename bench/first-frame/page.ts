/**
 * The player's side of the first-frame bench, run in the Chromium page: plays with the WHEP
 * client and records on the wall clock (`performance.timeOrigin + performance.now()`, the trace's
 * clock) the player's start, the POST sent, the 201 received, ICE and the connection connected,
 * and the first decoded frame (inbound-rtp `framesDecoded` > 0, read every 5 ms through the
 * probe; Chromium serves a cached stats report for 50 ms, so this mark is up to 50 ms late),
 * and from `requestVideoFrameCallback` the first frame's receive and presentation times.
 *
 * @module
 */

/** What the player page recorded, wall-clock ms. */
export interface PlayerMarks {
  start: number;
  post?: number;
  answered?: number;
  iceConnected?: number;
  connected?: number;
  decoded?: number;
  /** requestVideoFrameCallback: the first frame's last packet received, and its presentation. */
  received?: number;
  presented?: number;
  status?: number;
}

/** In the page: plays `endpoint` and returns {@link PlayerMarks} (or throws after `give` ms). */
export const PLAY_TIMED = `async ({ endpoint, token, give }) => {
  const now = () => performance.timeOrigin + performance.now();
  const marks = { start: now() };
  const Traced = globalThis.RTCPeerConnection;
  globalThis.RTCPeerConnection = class extends Traced {
    constructor(config) {
      super(config);
      this.addEventListener("iceconnectionstatechange", () => {
        if (this.iceConnectionState === "connected") marks.iceConnected ??= now();
      });
      this.addEventListener("connectionstatechange", () => {
        if (this.connectionState === "connected") marks.connected ??= now();
      });
    }
  };
  const nativeFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const post = init?.method === "POST" && String(input).includes("/whep/");
    if (post) marks.post ??= now();
    const res = await nativeFetch(input, init);
    if (post) {
      marks.answered ??= now();
      marks.status ??= res.status;
    }
    return res;
  };
  const { WhepClient } = await import("/lib/whip-whep.js");
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  video.width = 320;
  document.body.prepend(video);
  video.requestVideoFrameCallback((_now, meta) => {
    if (meta.receiveTime !== undefined) marks.received = performance.timeOrigin + meta.receiveTime;
    marks.presented = performance.timeOrigin + meta.presentationTime;
  });
  const whep = new WhepClient(endpoint, { token, reconnect: false, events: false });
  globalThis.benchWhep = whep;
  whep.addEventListener("track", (e) => {
    if (e.detail.kind === "video") video.srcObject = new MediaStream([e.detail]);
  });
  await whep.play();
  for (;;) {
    const v = (await __probe.rtp("inbound")).find((s) => s.kind === "video");
    if (v && v.framesDecoded > 0) {
      marks.decoded = now();
      break;
    }
    if (now() > marks.start + give) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  return marks;
}`;

/** In the page: ends the WHEP session (DELETE). */
export const STOP = `async () => { await globalThis.benchWhep?.stop(); }`;
