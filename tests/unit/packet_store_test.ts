import assert from "node:assert/strict";
import {
  GenericNack,
  RtcpTransportLayerFeedback,
  type RTCRtpSender,
  RtpHeader,
  RtpPacket,
} from "werift";
import { Buffer } from "node:buffer";
import { PacketStore } from "../../src/media/packet-store.ts";
import { EgressStream } from "../../src/media/egress-stream.ts";
import type { PeerEgress } from "../../src/media/egress.ts";

function packet(seq: number, size = 100): RtpPacket {
  const payload = Buffer.alloc(size, seq & 0xff);
  return new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 3000 }), payload);
}

Deno.test("packet store: a packet handed to many players is stored once", () => {
  const store = new PacketStore(4, 1000, 16);
  const a = packet(1), b = packet(2);
  const pa = store.add(a, 0);
  assert.equal(store.add(a, 0), pa, "the same packet again: the same position");
  const pb = store.add(b, 0);
  assert.equal(pb, pa + 1);
  assert.equal(store.add(a, 1), pb + 1, "an older packet handed over later: a new position");
  assert.equal(store.get(pa), a);
  assert.equal(store.get(pb), b);
  assert.equal(store.get(pb + 1), a);
  assert.equal(store.get(pb + 2), undefined, "not issued yet");
});

Deno.test("packet store: old packets are written over, young ones make the ring grow", () => {
  const store = new PacketStore(4, 1000, 8);
  const positions = [0, 1, 2, 3].map((i) => store.add(packet(i), i));
  // the ring is full of packets younger than 1 s: it doubles instead of writing over
  const p4 = store.add(packet(4), 10);
  assert.equal(store.slots, 8);
  for (const [i, p] of positions.entries()) assert.equal(store.get(p)?.header.sequenceNumber, i);
  // 1.5 s later the oldest packets are written over (and so gone)
  const later = [5, 6, 7, 8, 9].map((i) => store.add(packet(i), 1500));
  assert.equal(store.slots, 8, "old slots reused, no growth");
  assert.equal(store.get(positions[0]), undefined, "evicted");
  assert.equal(store.get(positions[1]), undefined, "evicted");
  assert.equal(store.get(positions[2])?.header.sequenceNumber, 2);
  assert.equal(store.get(p4)?.header.sequenceNumber, 4);
  assert.equal(store.get(later[4])?.header.sequenceNumber, 9);
  // at its largest size it writes over even young packets, and says so
  store.add(packet(10), 1500);
  store.add(packet(11), 1500);
  assert.equal(store.slots, 8);
  assert.equal(store.get(positions[2]), undefined);
});

Deno.test("packet store: positions wrap at 2^30", () => {
  const store = new PacketStore(4, 0, 4, 0x3fff_fffe);
  const p = [0, 1, 2, 3].map((i) => store.add(packet(i), i));
  assert.deepEqual(p, [0x3fff_fffe, 0x3fff_ffff, 0, 1]);
  for (let i = 0; i < 4; i++) assert.equal(store.get(p[i])?.header.sequenceNumber, i);
  store.add(packet(4), 10);
  assert.equal(store.get(p[0]), undefined, "written over across the wrap");
  assert.equal(store.get(p[1])?.header.sequenceNumber, 1);
});

/** A stream over a fake connection and sender, recording what a NACK resends. */
function fakeStream() {
  const resent: { seq: number; payload: Uint8Array }[] = [];
  const peer = {
    scratchHeader: new Uint8Array(256),
    enqueue: () => {},
    scheduleReports: () => {},
    sendRtcp: () => true,
    sendNow: (length: number, payload: Uint8Array, _ssrc: number, _roc: number, seq: number) => {
      assert.ok(length >= 12);
      resent.push({ seq, payload });
      return 1;
    },
  } as unknown as PeerEgress;
  const sender = {
    ssrc: 1234,
    stopped: false,
    packetCount: 0,
    octetCount: 0,
    rtpTimestamp: 0,
    retransmittedPacketsSent: 0,
    retransmittedBytesSent: 0,
    nackCount: 0,
    headerExtensions: [],
    handleRtcpPacket: () => {},
    onGenericNack: { execute: () => {} },
    onRtcp: { execute: () => {} },
  };
  const stream = new EgressStream(peer, sender as unknown as RTCRtpSender, 2048);
  const nack = (lost: number[]) =>
    (sender.handleRtcpPacket as (p: unknown) => void)(
      new RtcpTransportLayerFeedback({ feedback: new GenericNack({ lost }) }),
    );
  return { stream, nack, resent };
}

Deno.test("egress stream: NACKs answered from the store across the sequence wrap", () => {
  const { stream, nack, resent } = fakeStream();
  const now = performance.now();
  const sent: RtpPacket[] = [];
  // outgoing sequence numbers 65,000 … 65,535, 0 … 463 (the source's, no offset)
  for (let k = 0; k < 1000; k++) {
    const rtp = packet((65_000 + k) & 0xffff, 100 + (k % 50));
    sent.push(rtp);
    assert.ok(stream.send(rtp, 96, 90_000, now));
  }
  nack([65_000, 65_535, 0, 463, 464]);
  assert.deepEqual(resent.map((r) => r.seq), [65_000, 65_535, 0, 463]);
  assert.equal(resent[0].payload, sent[0].payload);
  assert.equal(resent[1].payload, sent[535].payload);
  assert.equal(resent[2].payload, sent[536].payload);
  assert.equal(resent[3].payload, sent[999].payload);
});

Deno.test("egress stream: a NACK older than the history or overwritten in the ring is not answered", () => {
  const { stream, nack, resent } = fakeStream();
  const t0 = performance.now();
  stream.send(packet(10), 96, 90_000, t0 - 1500); // sent 1.5 s ago: past the 1 s history
  stream.send(packet(11), 96, 90_000, t0);
  // 2048 packets later seq 11's slot of the stream's ring holds seq 11 + 2048
  for (let k = 1; k <= 2048; k++) stream.send(packet(11 + k), 96, 90_000, t0);
  nack([10, 11, 11 + 2048]);
  assert.deepEqual(resent.map((r) => r.seq), [11 + 2048]);
});
