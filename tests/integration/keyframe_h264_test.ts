/**
 * The H.264 keyframe cache end to end with werift clients (real ICE / DTLS / SRTP on loopback):
 * a publisher packetized as OBS does (SPS, PPS in packets of their own, then the IDR in FU-A)
 * that ignores PLI, and a player that joins mid-GOP. It gets the whole access unit first, its
 * sequence numbers run on without a gap from the first packet (also through the parameter sets
 * the server writes in front when the publisher signals them only in `sprop-parameter-sets`),
 * and a NACK for that first packet is answered — on the native egress path and on werift's.
 */
import assert from "node:assert/strict";
import { testServer } from "../helpers/server.ts";
import { until } from "../helpers/clients.ts";
import { H264Player, ObsLikePublisher, TEST_PPS, TEST_SPS } from "../helpers/h264.ts";
import { egressPath } from "../../src/media/send-path.ts";
import { NAL } from "../../src/media/h264.ts";

const SPS = 1 << NAL.SPS;
const PPS = 1 << NAL.PPS;
const IDR = 1 << NAL.IDR;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The NAL units of a STAP-A. */
function unitsOf(p: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 1; i + 2 <= p.length;) {
    const size = (p[i] << 8) | p[i + 1];
    out.push(p.subarray(i + 2, i + 2 + size));
    i += 2 + size;
  }
  return out;
}

for (const path of ["native", "werift"] as const) {
  for (const parameterSets of ["in-band", "sprop"] as const) {
    for (const join of ["mid-GOP", "at a live keyframe (cache off)"] as const) {
      Deno.test({
        name: `H.264 (${parameterSets}), player joining ${join}: the whole access unit first, ` +
          `continuous sequence numbers, NACK answered (${path} egress)`,
        ignore: path === "native" && !egressPath(true).native && !Deno.env.get("CI"),
        fn: () => scenario(path, parameterSets, join),
      });
    }
  }
}

async function scenario(
  path: "native" | "werift",
  parameterSets: "in-band" | "sprop",
  join: "mid-GOP" | "at a live keyframe (cache off)",
) {
  const live = join !== "mid-GOP";
  const server = await testServer({
    FAST_EGRESS: path === "native" ? "auto" : "off",
    ...(live ? { KEYFRAME_CACHE_BYTES: "0" } : {}),
  });
  const pub = new ObsLikePublisher({ parameterSets });
  const player = new H264Player();
  try {
    await pub.publish(`${server.url}/whip/h264`, await server.token("obs", "h264"));
    pub.start(live ? 45 : 300); // cache off: the next keyframe within 1.5 s
    await until(() => pub.sent.keyframes > 0, "the first keyframe", 5000);
    await sleep(700); // mid-GOP
    await player.play(
      `${server.url}/whep/h264`,
      await server.token("viewer", "h264", "participant"),
    );
    await player.decodable(5000);
    const first = player.video[0];
    const idrTs = player.video.find((p) => p.nals & IDR)!.ts;
    assert.equal(first.ts, idrTs, "the first packet is of the IDR's access unit");
    if (parameterSets === "sprop") {
      assert.equal(first.nals, SPS | PPS, "a STAP-A of the offer's SPS and PPS comes first");
      assert.deepEqual(unitsOf(first.payload).map((u) => [...u]), [[...TEST_SPS], [...TEST_PPS]]);
    } else {
      assert.equal(first.nals, SPS, "the publisher's SPS packet comes first");
      assert.equal(player.video[1].nals, PPS);
    }
    if (live) assert.ok(pub.sent.keyframes >= 2, "started at a later, live keyframe");
    else assert.equal(pub.sent.keyframes, 1, "primed from the cache: no second keyframe");

    // sequence numbers: no gap and no repeat from the first packet on
    await sleep(300);
    const seqs = player.video.map((p) => p.seq);
    for (let i = 1; i < seqs.length; i++) {
      assert.equal(seqs[i], (seqs[i - 1] + 1) & 0xffff, `packet ${i}: ${seqs.slice(0, i + 1)}`);
    }

    // the first packet (the server's own, for sprop) is in the send history
    const before = player.video.filter((p) => p.seq === first.seq).length;
    await player.sendNack([first.seq]);
    await until(
      () => player.video.filter((p) => p.seq === first.seq).length > before,
      `the retransmission of ${first.seq}`,
      3000,
    );
    const again = player.video.findLast((p) => p.seq === first.seq)!;
    assert.deepEqual([...again.payload], [...first.payload], "the same packet again");
    assert.equal(again.ts, first.ts);
  } finally {
    await Promise.all([pub.close(), player.close()]);
    await server.shutdown();
  }
}
