/**
 * Live numbers from `RTCPeerConnection.getStats()`: bitrate, resolution, frame rate, packet
 * loss and round-trip time, for a sending (WHIP) or receiving (WHEP) connection.
 *
 * @example
 * ```js
 * const meter = new StatsMeter("inbound");
 * setInterval(async () => console.log(await meter.sample(pc)), 1000);
 * ```
 *
 * @module
 */

/**
 * One sample (rates are over the time since the previous sample).
 * @typedef {object} Sample
 * @property {number} videoBitrate bit/s of video (all simulcast layers together).
 * @property {number} audioBitrate bit/s of audio.
 * @property {number} [width] frame width (of the largest layer when sending simulcast).
 * @property {number} [height] frame height.
 * @property {number} [fps] frames per second (decoded or encoded).
 * @property {number} [loss] fraction of packets lost (0..1) since the previous sample.
 * @property {number} [rtt] round-trip time in seconds.
 * @property {string} [videoCodec] e.g. `VP8`.
 * @property {string} [audioCodec] e.g. `opus`.
 * @property {number} layers video encodings being sent (simulcast) or 1.
 * @property {number} framesDecoded inbound video frames decoded so far (0 when sending).
 * @property {number} audioPackets audio packets received or sent so far.
 * @property {string} [limitation] why the encoder lowered quality (`cpu`, `bandwidth`).
 */

/** Turns successive `getStats()` reports into {@link Sample}s. */
export class StatsMeter {
  /** @type {Map<string, any>} */
  #previous = new Map();
  #direction;

  /** @param {"inbound" | "outbound"} direction what the connection does with media. */
  constructor(direction) {
    this.#direction = direction;
  }

  /**
   * @param {RTCPeerConnection | { getStats(): Promise<RTCStatsReport | Map<string, never>> } | null} pc
   * @returns {Promise<Sample>}
   */
  async sample(pc) {
    /** @type {Sample} */
    const out = { videoBitrate: 0, audioBitrate: 0, layers: 0, framesDecoded: 0, audioPackets: 0 };
    if (!pc) return out;
    /** @type {Map<string, any>} */
    const report = new Map();
    (await pc.getStats()).forEach((/** @type {any} */ s) => report.set(s.id, s));
    const type = this.#direction === "inbound" ? "inbound-rtp" : "outbound-rtp";
    let lost = 0;
    let total = 0;
    for (const s of report.values()) {
      if (s.type !== type) continue;
      const prev = this.#previous.get(s.id);
      const dt = prev ? (s.timestamp - prev.timestamp) / 1000 : 0;
      const bytes = this.#direction === "inbound" ? s.bytesReceived : s.bytesSent;
      const prevBytes = prev
        ? (this.#direction === "inbound" ? prev.bytesReceived : prev.bytesSent)
        : bytes;
      const bitrate = dt > 0 ? Math.max(0, (bytes - prevBytes) * 8 / dt) : 0;
      const codec = report.get(s.codecId)?.mimeType?.split("/")[1];
      if (s.kind === "video") {
        out.videoBitrate += bitrate;
        out.videoCodec = codec ?? out.videoCodec;
        if (this.#direction === "outbound" && s.active === false) continue;
        out.layers++;
        if ((s.frameWidth ?? 0) >= (out.width ?? 0) && s.frameWidth) {
          out.width = s.frameWidth;
          out.height = s.frameHeight;
          out.fps = s.framesPerSecond ?? out.fps;
        }
        if (s.qualityLimitationReason && s.qualityLimitationReason !== "none") {
          out.limitation = s.qualityLimitationReason;
        }
        out.framesDecoded += s.framesDecoded ?? 0;
      } else if (s.kind === "audio") {
        out.audioBitrate += bitrate;
        out.audioCodec = codec ?? out.audioCodec;
        out.audioPackets += (this.#direction === "inbound" ? s.packetsReceived : s.packetsSent) ??
          0;
      }
      if (this.#direction === "inbound" && prev) {
        const dLost = Math.max(0, (s.packetsLost ?? 0) - (prev.packetsLost ?? 0));
        const dRecv = Math.max(0, (s.packetsReceived ?? 0) - (prev.packetsReceived ?? 0));
        lost += dLost;
        total += dLost + dRecv;
      }
      this.#previous.set(s.id, s);
    }
    if (this.#direction === "outbound") {
      // what the server reports back about our packets (RTCP receiver reports)
      let fractions = 0;
      let count = 0;
      for (const s of report.values()) {
        if (s.type !== "remote-inbound-rtp") continue;
        if (typeof s.fractionLost === "number") {
          fractions += s.fractionLost;
          count++;
        }
        if (typeof s.roundTripTime === "number") out.rtt ??= s.roundTripTime;
      }
      if (count > 0) out.loss = fractions / count;
    } else if (total > 0) {
      out.loss = lost / total;
    } else if (this.#previous.size > 0) {
      out.loss = 0;
    }
    const pair = selectedPair(report);
    if (typeof pair?.currentRoundTripTime === "number") out.rtt = pair.currentRoundTripTime;
    return out;
  }
}

/**
 * The selected ICE candidate pair of a report.
 * @param {Map<string, any>} report
 */
function selectedPair(report) {
  for (const s of report.values()) {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      return report.get(s.selectedCandidatePairId);
    }
  }
  for (const s of report.values()) {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") return s;
  }
  return undefined;
}

/**
 * Formats a sample for people: `{ Bitrate: "1.2 Mbit/s", Resolution: "1280×720", ... }`.
 * @param {Sample} s
 * @returns {[string, string][]}
 */
export function describe(s) {
  const rate = (/** @type {number} */ b) =>
    b >= 1e6 ? `${(b / 1e6).toFixed(2)} Mbit/s` : `${Math.round(b / 1e3)} kbit/s`;
  return [
    ["Video", s.videoCodec ? `${s.videoCodec} · ${rate(s.videoBitrate)}` : "—"],
    ["Resolution", s.width ? `${s.width}×${s.height}` : "—"],
    ["Frame rate", s.fps !== undefined ? `${Math.round(s.fps)} fps` : "—"],
    ["Audio", s.audioCodec ? `${s.audioCodec} · ${rate(s.audioBitrate)}` : "—"],
    ["Packet loss", s.loss !== undefined ? `${(s.loss * 100).toFixed(1)} %` : "—"],
    ["Round trip", s.rtt !== undefined ? `${Math.round(s.rtt * 1000)} ms` : "—"],
  ];
}
