/**
 * Hostile input, point 6: malformed RTP / RTCP / STUN / DTLS at the media ports. With a live
 * werift publisher and player connected, the test process throws garbage datagrams at the
 * server's ports (from a stranger's socket and from the connected peers' own ICE 5-tuples), and
 * garbage SRTP / SRTCP from inside the DTLS sessions (authenticated, so it reaches the SFU's own
 * packet handling). The in-process server must not crash, nothing may be rejected unhandled, and
 * the live media keeps flowing.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import fc from "npm:fast-check@4.10.2";
import { type RTCPeerConnection, type RTCRtpTransceiver, RtpHeader } from "werift";
import { count, type Live, liveRoom, outcome, params, report } from "./harness.ts";

// ---------------------------------------------------------------------------------------------
// Datagrams.

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** Truncated or malformed RTP: first byte 0x80..0xbf (version 2, any P/X/CC). */
export const rtpLike = fc.tuple(
  fc.integer({ min: 0x80, max: 0xbf }),
  fc.nat({ max: 255 }),
  bytes(0, 60),
)
  .map(([b0, b1, rest]) => new Uint8Array([b0, b1, ...rest]));

/** RTCP-looking: first byte 0x80.., second 200..206, any length field, random body. */
export const rtcpLike = fc.tuple(
  fc.integer({ min: 0x80, max: 0x9f }),
  fc.integer({ min: 200, max: 206 }),
  fc.oneof(fc.nat({ max: 0xffff }), fc.nat({ max: 20 })),
  bytes(0, 80),
).map(([b0, pt, len, rest]) => new Uint8Array([b0, pt, ...u16(len), ...rest]));

const STUN_TYPES = [0x0001, 0x0011, 0x0101, 0x0111, 0x0003, 0x0004, 0x0008, 0x03ff];
const STUN_ATTRS = [0x0001, 0x0006, 0x0008, 0x0009, 0x0020, 0x0024, 0x0025, 0x8028, 0x8029, 0x802a];

/** STUN-looking: first two bits 0, magic cookie 0x2112A442 at offset 4, garbage after. */
export const stunLike = fc.tuple(
  // RFC 7983 demultiplexes on the first byte: 0..3 is STUN (20..63 is DTLS, tested apart).
  fc.oneof(fc.constantFrom(...STUN_TYPES), fc.nat({ max: 0x03ff })),
  fc.oneof(fc.constant(-1), fc.nat({ max: 0xffff })),
  bytes(12, 12),
  fc.array(
    fc.tuple(
      fc.oneof(fc.constantFrom(...STUN_ATTRS), fc.nat({ max: 0xffff })),
      fc.oneof(fc.constant(-1), fc.nat({ max: 0xffff })),
      bytes(0, 40),
    ),
    { maxLength: 5 },
  ),
).map(([type, len, tx, attrs]) => {
  const body = attrs.flatMap(([t, l, v]) => {
    const pad = (4 - (v.length % 4)) % 4;
    return [...u16(t), ...u16(l < 0 ? v.length : l), ...v, ...Array(pad).fill(0)];
  });
  return new Uint8Array([
    ...u16(type),
    ...u16(len < 0 ? body.length : len),
    0x21,
    0x12,
    0xa4,
    0x42,
    ...tx,
    ...body,
  ]);
});

/** DTLS-looking: content type 20..63, DTLS versions, any epoch, alerts and handshakes. */
export const dtlsLike = fc.tuple(
  fc.oneof(fc.constantFrom(20, 21, 22, 23), fc.integer({ min: 20, max: 63 })),
  fc.constantFrom([0xfe, 0xfd], [0xfe, 0xff], [0x03, 0x03], [0, 0]),
  fc.oneof(fc.constant(0), fc.nat({ max: 0xffff })),
  bytes(6, 6),
  fc.oneof(
    fc.constantFrom([2, 0], [2, 40], [1, 0], [2, 10], [2, 20]), // alerts: fatal close, failure…
    fc.tuple(fc.constantFrom(1, 2, 11, 12, 14, 16, 20), bytes(0, 60)).map(([t, b]) => [t, ...b]),
    bytes(0, 120).map((b) => [...b]),
  ),
  fc.boolean(),
).map(([type, version, epoch, seq, frag, honestLength]) =>
  new Uint8Array([
    type,
    ...version,
    ...u16(epoch),
    ...seq,
    ...u16(honestLength ? frag.length : (frag.length * 7 + 3) & 0xffff),
    ...frag,
  ])
);

/** Random bytes whose first byte is (`dtls`) or is not in the DTLS range 20..63. */
const randomBytes = (dtls: boolean) =>
  bytes(1, 1500).map((b) => {
    const out = new Uint8Array(b);
    const inRange = out[0] >= 20 && out[0] <= 63;
    if (inRange !== dtls) out[0] = dtls ? 20 + (out[0] % 44) : out[0] < 20 ? out[0] : out[0] | 0x40;
    return out;
  });

/** Garbage that is not DTLS by RFC 7983's first byte: random, RTP, RTCP and STUN look-alikes. */
export const notDtlsDatagram = fc.oneof(
  { weight: 2, arbitrary: randomBytes(false).map((b) => ({ kind: "random", b })) },
  { weight: 2, arbitrary: rtpLike.map((b) => ({ kind: "rtp", b })) },
  { weight: 2, arbitrary: rtcpLike.map((b) => ({ kind: "rtcp", b })) },
  { weight: 3, arbitrary: stunLike.map((b) => ({ kind: "stun", b })) },
  { weight: 1, arbitrary: fc.constant({ kind: "empty", b: new Uint8Array(0) }) },
);

/** Garbage in the DTLS range (first byte 20..63): records, alerts, handshakes, random. */
export const dtlsDatagram = fc.oneof(
  { weight: 3, arbitrary: dtlsLike.map((b) => ({ kind: "dtls", b })) },
  { weight: 1, arbitrary: randomBytes(true).map((b) => ({ kind: "random", b })) },
);

// ---------------------------------------------------------------------------------------------
// Inside DTLS: RTP headers and RTCP compounds a broken or malicious peer could send.

/** An RTP header and payload for `sendRtp` (SRTP-encrypted by werift). */
const rtpInside = (ssrcs: number[]) =>
  fc.record({
    payloadType: fc.oneof(fc.constantFrom(96, 111, 97, 0), fc.nat({ max: 127 })),
    ssrc: fc.oneof(fc.constantFrom(...ssrcs), fc.nat({ max: 0xffffffff })),
    sequenceNumber: fc.nat({ max: 0xffff }),
    timestamp: fc.nat({ max: 0xffffffff }),
    marker: fc.boolean(),
    csrc: fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 15 }),
    extensions: fc.array(
      fc.record({ id: fc.integer({ min: 1, max: 14 }), payload: bytes(1, 16) }),
      { maxLength: 4 },
    ),
    padding: fc.option(fc.nat({ max: 255 }), { freq: 5 }),
    payload: fc.oneof(
      bytes(0, 1200),
      // VP8 payload descriptors: X/S/PID bits, extension bytes, keyframe tags, truncations.
      fc.tuple(fc.constantFrom(0x10, 0x90, 0x80, 0x17, 0xff, 0x00), bytes(0, 12)).map((
        [b0, rest],
      ) => new Uint8Array([b0, ...rest])),
      fc.constant(new Uint8Array([0x90, 0xe0, 0x80])),
      fc.constant(new Uint8Array([0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a])),
    ),
  });

/** Raw RTCP bytes: reports, NACKs, PLIs, FIRs, REMBs with hostile fields, and garbage. */
const rtcpInside = (ssrcs: number[]) => {
  const ssrc = fc.oneof(fc.constantFrom(...ssrcs), fc.nat({ max: 0xffffffff }));
  const packet = fc.oneof(
    // Generic NACK (205/1) with random lost packet ids and masks.
    fc.tuple(
      ssrc,
      fc.array(fc.tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff })), {
        maxLength: 60,
      }),
    ).map(([media, items]) => [
      0x81,
      205,
      ...u16(2 + items.length),
      ...u32(1),
      ...u32(media),
      ...items.flatMap(([pid, blp]) => [...u16(pid), ...u16(blp)]),
    ]),
    // PLI (206/1) and FIR (206/4).
    ssrc.map((media) => [0x81, 206, ...u16(2), ...u32(1), ...u32(media)]),
    fc.tuple(ssrc, fc.nat({ max: 255 })).map(([media, seq]) => [
      0x84,
      206,
      ...u16(4),
      ...u32(1),
      ...u32(0),
      ...u32(media),
      seq,
      0,
      0,
      0,
    ]),
    // REMB (206/15) with any exponent and mantissa, any SSRC count.
    fc.tuple(
      fc.nat({ max: 63 }),
      fc.nat({ max: 0x3ffff }),
      fc.array(ssrc, { maxLength: 4 }),
      fc.nat({ max: 255 }),
    )
      .map(([exp, mantissa, list, n]) => [
        0x8f,
        206,
        ...u16(4 + list.length),
        ...u32(1),
        ...u32(0),
        0x52,
        0x45,
        0x4d,
        0x42,
        n,
        ((exp << 2) | (mantissa >> 16)) & 0xff,
        (mantissa >> 8) & 0xff,
        mantissa & 0xff,
        ...list.flatMap(u32),
      ]),
    // SR / RR with report blocks of random content.
    fc.tuple(fc.constantFrom(200, 201), fc.nat({ max: 31 }), bytes(0, 120)).map((
      [pt, rc, body],
    ) => {
      const words = Math.ceil((4 + body.length) / 4);
      const padded = [...u32(1), ...body, ...Array(words * 4 - 4 - body.length).fill(0)];
      return [0x80 | rc, pt, ...u16(words), ...padded];
    }),
    // SDES / BYE / APP / XR and unknown types, any length field.
    fc.tuple(fc.integer({ min: 202, max: 210 }), fc.nat({ max: 0xffff }), bytes(4, 60)).map((
      [pt, len, body],
    ) => [0x81, pt, ...u16(len), ...body]),
  );
  return fc.array(packet, { minLength: 1, maxLength: 4 }).map((ps) => new Uint8Array(ps.flat()));
};

// ---------------------------------------------------------------------------------------------
// Access to the werift internals of the test's own clients.

interface IceConnection {
  send(data: Buffer): Promise<void>;
}
interface DtlsInternals {
  srtcp: { encrypt(raw: Buffer): Buffer };
  iceTransport: { connection: IceConnection };
  sendRtp(payload: Buffer, header: RtpHeader): Promise<number>;
}

function iceConnection(pc: RTCPeerConnection): IceConnection {
  return (pc.iceTransports[0] as unknown as { connection: IceConnection }).connection;
}

function dtls(pc: RTCPeerConnection, kind: "audio" | "video"): DtlsInternals {
  const t = pc.getTransceivers().find((x: RTCRtpTransceiver) => x.kind === kind)!;
  return t.sender.dtlsTransport as unknown as DtlsInternals;
}

/** The server's UDP ports, from the candidates of the answers it gave the live clients. */
export function serverAddresses(
  live: Live,
  pcs: RTCPeerConnection[] = [live.pub.pc, live.player.pc],
): [string, number][] {
  const out = new Map<string, [string, number]>();
  for (const pc of pcs) {
    const sdp = pc.remoteDescription!.sdp;
    for (const m of sdp.matchAll(/a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host/g)) {
      out.set(`${m[1]}:${m[2]}`, [m[1], Number(m[2])]);
    }
  }
  return [...out.values()].filter(([ip]) => /^\d+\.\d+\.\d+\.\d+$/.test(ip));
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server media port. */
type Target = [string, number];

Deno.test("hostile packets: garbage at the media ports never crashes the SFU or stops live media", async (t) => {
  const main = await liveRoom();
  const socket = dgram.createSocket("udp4");
  let room = 0;
  /** Runs `body` against a live pair of its own (a step's damage cannot hide the next one's). */
  const withPair = async (body: (live: Live, targets: Target[]) => Promise<void>) => {
    const live = room++ === 0 ? main : await main.fresh(`packets${room}`);
    try {
      const targets = serverAddresses(live);
      assert.ok(targets.length > 0, "the server's media ports");
      await body(live, targets);
    } finally {
      if (live !== main) await live.close();
    }
  };
  const sendTo = (b: Uint8Array, [ip, port]: Target) =>
    new Promise<void>((resolve) => socket.send(b, port, ip, () => resolve()));
  type Garbage = { kind: string; b: Uint8Array };

  /** A barrage of `datagrams` from a stranger's socket to every media port of the pair. */
  const fromStranger = (name: string, datagrams: fc.Arbitrary<Garbage>, runs: number) =>
    withPair(async (live, targets) => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(datagrams, { minLength: 1, maxLength: 5 }), async (burst) => {
          for (const { kind, b } of burst) {
            count(name);
            outcome(name, kind);
            for (const target of targets) await sendTo(b, target);
          }
          if (++n % 25 === 0) await pause(5); // let the server's loop run between bursts
        }),
        params(runs),
      );
      await live.check(name);
    });

  /** The same from the live peers' own ICE 5-tuples (their nominated pairs). */
  const fromPeers = (name: string, datagrams: fc.Arbitrary<Garbage>, runs: number) =>
    withPair(async (live) => {
      const peers = [iceConnection(live.pub.pc), iceConnection(live.player.pc)];
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.nat({ max: 1 }),
          fc.array(datagrams, { minLength: 1, maxLength: 5 }),
          async (which, burst) => {
            for (const { kind, b } of burst) {
              count(name);
              outcome(name, kind);
              await peers[which].send(Buffer.from(b));
            }
            if (++n % 25 === 0) await pause(5);
          },
        ),
        params(runs),
      );
      await live.check(name);
    });

  try {
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));

    await t.step(
      "RTP / RTCP / STUN / random garbage from a stranger's socket",
      () => fromStranger("packets: stranger, not DTLS", notDtlsDatagram, 300),
    );

    await t.step(
      "RTP / RTCP / STUN / random garbage on the live peers' own 5-tuples",
      () => fromPeers("packets: peer 5-tuple, not DTLS", notDtlsDatagram, 300),
    );

    await t.step("a forged DTLS alert from a stranger does not stop a player's media", () =>
      // Found by the DTLS property below (minimal form): a 15-byte record of content type 21
      // (alert), epoch 1, whose body cannot be authenticated, sent from any address to the WHEP
      // session's port, made werift close the DTLS transport: the sender stops, ICE stays
      // connected and the session lives on without media.
      withPair(async (live) => {
        count("packets: forged DTLS alert");
        const alert = new Uint8Array([
          0x15,
          0xfe,
          0xfd,
          0x00,
          0x01,
          0,
          0,
          0,
          0,
          0,
          0x05,
          0x00,
          0x02,
          0x01,
          0x00,
        ]);
        const playerPorts = serverAddresses(live, [live.player.pc]);
        for (const target of playerPorts) await sendTo(alert, target);
        await live.check("a forged DTLS alert at the player's session");
      }));

    await t.step(
      "DTLS-looking garbage from a stranger's socket",
      () => fromStranger("packets: stranger, DTLS range", dtlsDatagram, 150),
    );

    await t.step(
      "DTLS-looking garbage on the live peers' own 5-tuples",
      () => fromPeers("packets: peer 5-tuple, DTLS range", dtlsDatagram, 150),
    );

    await t.step(
      "authenticated garbage RTP from inside the publisher's SRTP session",
      () =>
        withPair(async (live) => {
          const video = dtls(live.pub.pc, "video");
          let n = 0;
          await fc.assert(
            fc.asyncProperty(rtpInside([0x1234, 0x5678]), async (p) => {
              count("packets: SRTP from the publisher");
              const header = new RtpHeader({
                payloadType: p.payloadType,
                ssrc: p.ssrc,
                sequenceNumber: p.sequenceNumber,
                timestamp: p.timestamp,
                marker: p.marker,
                csrc: p.csrc,
                csrcLength: p.csrc.length,
                extension: p.extensions.length > 0,
                extensions: p.extensions.map((e) => ({
                  id: e.id,
                  payload: Buffer.from(e.payload),
                })),
                padding: p.padding !== null,
                paddingSize: p.padding ?? 0,
              });
              await video.sendRtp(Buffer.from(p.payload), header);
              if (++n % 25 === 0) await pause(5);
            }),
            params(300),
          );
          await live.check("garbage SRTP from the publisher");
        }),
    );

    await t.step(
      "authenticated garbage RTCP from inside both SRTP sessions",
      () =>
        withPair(async (live) => {
          const senders = [dtls(live.pub.pc, "video"), dtls(live.player.pc, "video")];
          const ssrcs = [0x1234, 0x5678, ...live.player.ssrcs.video, ...live.player.ssrcs.audio];
          let n = 0;
          await fc.assert(
            fc.asyncProperty(fc.nat({ max: 1 }), rtcpInside(ssrcs), async (which, raw) => {
              count("packets: SRTCP from the peers");
              const d = senders[which];
              await d.iceTransport.connection.send(d.srtcp.encrypt(Buffer.from(raw)));
              if (++n % 25 === 0) await pause(5);
            }),
            params(300),
          );
          await live.check("garbage SRTCP from the peers");
        }),
    );
  } finally {
    socket.close();
    report("packets:");
    await main.close();
  }
});
