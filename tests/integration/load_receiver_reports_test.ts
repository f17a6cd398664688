/**
 * The bench load's receiver reports (bench/load/receiver-reports.ts): with the process's report
 * clock, a load player's werift receivers send no report of their own, and the player sends one
 * receiver report with a block per stream (audio and video) about once a second, through real
 * ICE, DTLS and SRTCP to a werift sender that reads it.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import {
  RTCPeerConnection,
  RtcpRrPacket,
  type RTCRtpTransceiver,
  RtpHeader,
  RtpPacket,
} from "werift";
import "../../src/media/werift/patches.ts";
import { clientIceConfig, opus, vp8 } from "../../bench/load/common.ts";
import { gathered } from "../../bench/load/signal.ts";
import { FastRx } from "../../bench/load/fast-rx.ts";
import { LoadPlayer } from "../../bench/load/load-player.ts";
import { ReportClock } from "../../bench/load/receiver-reports.ts";
import { DelaySamples } from "../../bench/load/rtp-stream.ts";

/** A one-session WHEP endpoint: a werift peer that sends audio and video to its player. */
function whepSender() {
  const pc = new RTCPeerConnection({
    ...clientIceConfig(false),
    bundlePolicy: "max-bundle",
    codecs: { audio: [opus()], video: [vp8()] },
  });
  const audio = pc.addTransceiver("audio", { direction: "sendonly" });
  const video = pc.addTransceiver("video", { direction: "sendonly" });
  const reports: RtcpRrPacket[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    if (req.method !== "POST") return new Response(null, { status: 200 });
    await pc.setRemoteDescription({ type: "offer", sdp: await req.text() });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    video.sender.dtlsTransport.onRtcp.subscribe((packet) => {
      if (packet.type === RtcpRrPacket.type) reports.push(packet as RtcpRrPacket);
    });
    return new Response(pc.localDescription!.sdp, {
      status: 201,
      headers: { "Content-Type": "application/sdp", Location: "/session" },
    });
  });
  let seq = 0;
  const send = (t: RTCRtpTransceiver, pt: number) => {
    const header = new RtpHeader({ payloadType: pt, sequenceNumber: seq & 0xffff });
    header.timestamp = seq * 960;
    t.sender.sendRtp(new RtpPacket(header, new Uint8Array(100).fill(1) as never));
  };
  const timer = setInterval(() => {
    if (pc.connectionState !== "connected") return;
    seq++;
    send(audio, 111);
    send(video, 96);
  }, 20);
  return {
    url: `http://127.0.0.1:${server.addr.port}/whep`,
    reports,
    /** The SSRCs werift's senders write (audio, video). */
    ssrcs: [audio.sender.ssrc, video.sender.ssrc],
    async close() {
      clearInterval(timer);
      await pc.close();
      await server.shutdown();
    },
  };
}

Deno.test({
  name: "load receiver reports: one report per player with both streams, werift's loops off",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const sender = whepSender();
    const fastRx = FastRx.open(dgram.Socket.prototype.emit as never);
    assert.ok(fastRx, "libc through FFI");
    const reports = new ReportClock();
    const player = new LoadPlayer(
      {
        sampleEvery: 20,
        joinTimeoutMs: 10_000,
        nack: false,
        nackDelayMs: 20,
        anyAddress: false,
        taps: new WeakMap(),
        fastRx,
        samples: new DelaySamples(),
        gapped: new Set(),
        reports,
      },
      1,
      undefined,
    );
    try {
      const joined = await player.join(sender.url);
      assert.equal(joined.ok, true, String(joined.error));
      const deadline = Date.now() + 8000;
      while (sender.reports.length < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(sender.reports.length >= 3, `${sender.reports.length} receiver reports in 8 s`);
      for (const rr of sender.reports) {
        const blocks = rr.reports.map((r) => r.ssrc).sort((a, b) => a - b);
        // werift's own loop would send one report per receiver, with one block each
        assert.deepEqual(blocks, [...sender.ssrcs].sort((a, b) => a - b), "a block per stream");
        const video = rr.reports.find((r) => r.ssrc === sender.ssrcs[1])!;
        assert.ok(video.highestSequence > 0, "the block carries werift's statistics");
      }
    } finally {
      reports.stop();
      fastRx.stop();
      await player.close();
      await sender.close();
    }
  },
});
