// Injected before any script of a page under test: remembers every RTCPeerConnection the page
// creates and reads their RTP stats, so the tests measure media without trusting the page.
(() => {
  const Native = globalThis.RTCPeerConnection;
  if (!Native) return;
  /** @type {RTCPeerConnection[]} */
  const all = [];
  globalThis.RTCPeerConnection = class extends Native {
    /** @param {RTCConfiguration} [config] */
    constructor(config) {
      super(config);
      all.push(this);
    }
  };
  globalThis.__probe = {
    /** @param {"inbound" | "outbound"} direction */
    async rtp(direction) {
      const out = [];
      for (const [i, pc] of all.entries()) {
        if (pc.connectionState === "closed") continue;
        const report = await pc.getStats();
        report.forEach((/** @type {any} */ s) => {
          if (s.type !== `${direction}-rtp`) return;
          out.push({
            pc: i,
            kind: s.kind,
            packets: direction === "inbound" ? s.packetsReceived : s.packetsSent,
            framesDecoded: s.framesDecoded,
            frameWidth: s.frameWidth,
            frameHeight: s.frameHeight,
            rid: s.rid,
          });
        });
      }
      return out;
    },
    connections: () => all.map((pc) => pc.connectionState),
  };
})();
