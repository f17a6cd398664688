import assert from "node:assert/strict";
import {
  codecFamily,
  describeCodec,
  matchCodec,
  rtxFor,
  supportedCodecs,
} from "../../src/media/codecs.ts";
import { type Codec, type MediaSection, parseSdp } from "../../src/sdp/offer.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const section = (name: string, kind: "audio" | "video"): MediaSection => {
  const found = parseSdp(Deno.readTextFileSync(new URL(name, FIXTURES))).media.find((m) =>
    m.kind === kind
  );
  assert.ok(found, `${kind} in ${name}`);
  return found;
};
const codecs = (name: string, kind: "audio" | "video") => section(name, kind).codecs;
const byPt = (list: Codec[], pt: number): Codec => {
  const found = list.find((c) => c.payloadType === pt);
  assert.ok(found, `payload type ${pt}`);
  return found;
};
const make = (
  name: string,
  clockRate: number,
  fmtp: Record<string, string> = {},
  channels?: number,
) => ({ payloadType: 100, name, clockRate, channels, fmtp, rtcpFeedback: [] }) as Codec;

Deno.test("codecFamily", async (t) => {
  await t.step("recognises each family, case-insensitively", () => {
    const cases: [Codec, string | undefined][] = [
      [make("opus", 48000, {}, 2), "opus"],
      [make("OPUS", 48000, {}, 2), "opus"],
      [make("opus", 48000, {}, 1), undefined],
      [make("opus", 16000, {}, 2), undefined],
      [make("VP8", 90000), "vp8"],
      [make("vp9", 90000), "vp9"],
      [make("AV1", 90000), "av1"],
      [make("AV1X", 90000), "av1"],
      [make("H264", 90000, { "packetization-mode": "1" }), "h264"],
      [make("h264", 90000, { "packetization-mode": "1", "profile-level-id": "640032" }), "h264"],
      [make("H264", 90000, { "packetization-mode": "0" }), undefined],
      [make("H264", 90000, { "profile-level-id": "42e01f" }), undefined], // absent means 0
      [make("H264", 90000, { "Packetization-Mode": "1" }), "h264"], // werift-built keys keep case
      [make("VP8", 8000), undefined],
      [make("rtx", 90000, { apt: "96" }), undefined],
      [make("red", 90000), undefined],
      [make("ulpfec", 90000), undefined],
      [make("PCMU", 8000), undefined],
      [make("H265", 90000), undefined],
    ];
    for (const [codec, family] of cases) {
      assert.equal(codecFamily(codec), family, describeCodec(codec));
    }
  });

  await t.step("gstreamer's upper-case OPUS is Opus", () => {
    assert.equal(codecFamily(byPt(codecs("gstreamer-publish.sdp", "audio"), 111)), "opus");
  });
});

Deno.test("supportedCodecs", async (t) => {
  await t.step("chromium-publish video: VP8 first, H264 pm=1 kept with their rtx", () => {
    const kept = supportedCodecs("video", codecs("chromium-publish.sdp", "video"));
    assert.deepEqual(
      kept.map((c) => c.payloadType),
      [96, 97, 102, 103, 108, 109, 116, 117, 45, 46, 98, 99, 100, 101],
    );
    assert.equal(kept[0].name, "VP8");
    // packetization-mode=0 H264 (104, 114, 39), RED, ULPFEC and the rtx of RED (119) are dropped.
    for (const pt of [104, 107, 114, 115, 39, 40, 118, 119, 120]) {
      assert.ok(!kept.some((c) => c.payloadType === pt), `${pt} dropped`);
    }
  });

  await t.step("chromium-publish audio keeps only Opus", () => {
    const kept = supportedCodecs("audio", codecs("chromium-publish.sdp", "audio"));
    assert.deepEqual(kept.map((c) => c.payloadType), [111]);
  });

  await t.step("kind filters: no video codec for an audio section and vice versa", () => {
    assert.deepEqual(supportedCodecs("audio", codecs("chromium-publish.sdp", "video")), []);
    assert.deepEqual(supportedCodecs("video", codecs("chromium-publish.sdp", "audio")), []);
  });

  await t.step("pion, OBS, libwebrtc M106, gstreamer", () => {
    const pts = (name: string, kind: "audio" | "video") =>
      supportedCodecs(kind, codecs(name, kind)).map((c) => c.payloadType);
    assert.deepEqual(
      pts("pion-publish.sdp", "video"),
      [96, 97, 98, 99, 100, 101, 102, 121, 125, 107, 123, 118],
    );
    assert.deepEqual(pts("pion-publish.sdp", "audio"), [111]);
    assert.deepEqual(pts("obs-style-publish.sdp", "video"), [96]);
    assert.deepEqual(pts("obs-style-publish.sdp", "audio"), [111]);
    assert.deepEqual(pts("libwebrtc-m106-publish.sdp", "video"), [
      96,
      97,
      39,
      40,
      98,
      99,
      100,
      101,
    ]);
    assert.deepEqual(pts("gstreamer-publish.sdp", "audio"), [111]);
  });
});

Deno.test("matchCodec", async (t) => {
  const chromiumPlay = codecs("chromium-play.sdp", "video");
  const pionPlay = codecs("pion-play.sdp", "video");
  const h264 = (plid: string) =>
    make("H264", 90000, { "packetization-mode": "1", "profile-level-id": plid });

  await t.step("OBS publisher to a Chromium player: Opus 111 and exact H264 42e01f", () => {
    const obsVideo = byPt(codecs("obs-style-publish.sdp", "video"), 96);
    const obsAudio = byPt(codecs("obs-style-publish.sdp", "audio"), 111);
    assert.equal(matchCodec(obsVideo, chromiumPlay)?.payloadType, 108);
    assert.equal(matchCodec(obsAudio, codecs("chromium-play.sdp", "audio"))?.payloadType, 111);
  });

  await t.step("the OBS offer matches Opus 111 and H264 96 for other sources", () => {
    const obsVideo = codecs("obs-style-publish.sdp", "video");
    const obsAudio = codecs("obs-style-publish.sdp", "audio");
    const chromiumH264 = byPt(codecs("chromium-publish.sdp", "video"), 102); // 42001f
    assert.equal(matchCodec(chromiumH264, obsVideo)?.payloadType, 96);
    assert.equal(matchCodec(h264("640032"), obsVideo)?.payloadType, 96);
    const opus = byPt(codecs("gstreamer-publish.sdp", "audio"), 111);
    assert.equal(matchCodec(opus, obsAudio)?.payloadType, 111);
  });

  await t.step("H264: exact profile-level-id, else same profile_idc, else first pm=1", () => {
    assert.equal(matchCodec(h264("42e01f"), pionPlay)?.payloadType, 125);
    assert.equal(matchCodec(h264("42E01F"), pionPlay)?.payloadType, 125);
    assert.equal(matchCodec(h264("640032"), pionPlay)?.payloadType, 123);
    assert.equal(matchCodec(h264("4d0032"), chromiumPlay)?.payloadType, 116); // profile_idc 4d
    assert.equal(matchCodec(h264("640c34"), pionPlay)?.payloadType, 123); // profile_idc 64
    assert.equal(matchCodec(h264("4d001f"), pionPlay)?.payloadType, 102); // none: first pm=1
    assert.equal(
      matchCodec(h264("42001f"), codecs("libdatachannel-play.sdp", "video"))?.payloadType,
      102,
    );
    // Never a packetization-mode=0 codec, even with the exact profile.
    const pm0 = [byPt(pionPlay, 127), byPt(pionPlay, 108)];
    assert.equal(matchCodec(h264("42001f"), pm0), undefined);
  });

  await t.step("VP9 prefers the same profile-id", () => {
    const vp9 = (profile?: string) => make("VP9", 90000, profile ? { "profile-id": profile } : {});
    assert.equal(matchCodec(vp9("2"), chromiumPlay)?.payloadType, 100);
    assert.equal(matchCodec(vp9("1"), chromiumPlay)?.payloadType, 35);
    assert.equal(matchCodec(vp9(), chromiumPlay)?.payloadType, 98);
    assert.equal(matchCodec(vp9("1"), pionPlay)?.payloadType, 100);
    assert.equal(matchCodec(vp9("2"), pionPlay)?.payloadType, 98); // fallback: first VP9
  });

  await t.step("AV1 prefers the same profile; VP8 takes the first VP8", () => {
    assert.equal(matchCodec(make("AV1", 90000, { profile: "1" }), chromiumPlay)?.payloadType, 47);
    assert.equal(matchCodec(make("AV1X", 90000), chromiumPlay)?.payloadType, 45);
    assert.equal(
      matchCodec(make("VP8", 90000), codecs("libdatachannel-play.sdp", "video"))?.payloadType,
      96,
    );
  });

  await t.step("no match: other family, unsupported source, only rtx offered", () => {
    const m106 = codecs("libwebrtc-m106-play.sdp", "video");
    assert.equal(matchCodec(h264("42e01f"), m106), undefined);
    assert.equal(matchCodec(make("opus", 48000, {}, 2), chromiumPlay), undefined);
    assert.equal(matchCodec(make("red", 90000), chromiumPlay), undefined);
    assert.equal(matchCodec(make("VP8", 90000), [byPt(chromiumPlay, 97)]), undefined);
    const result = matchCodec(make("VP8", 90000), chromiumPlay);
    assert.equal(result?.name, "VP8");
  });
});

Deno.test("rtxFor", () => {
  const video = codecs("chromium-publish.sdp", "video");
  assert.equal(rtxFor(byPt(video, 96), video)?.payloadType, 97);
  assert.equal(rtxFor(byPt(video, 102), video)?.payloadType, 103);
  assert.equal(rtxFor(byPt(video, 45), video)?.payloadType, 46);
  assert.equal(rtxFor(byPt(video, 120), video), undefined); // ULPFEC has none
  const obs = codecs("obs-style-publish.sdp", "video");
  assert.equal(rtxFor(byPt(obs, 96), obs), undefined);
  const pion = codecs("pion-publish.sdp", "video");
  assert.equal(rtxFor(byPt(pion, 123), pion)?.payloadType, 118);
});

Deno.test("describeCodec", () => {
  const obs = codecs("obs-style-publish.sdp", "video");
  assert.equal(
    describeCodec(byPt(obs, 96)),
    "video/H264 (packetization-mode=1, profile-level-id=42e01f)",
  );
  assert.equal(
    describeCodec(byPt(codecs("obs-style-publish.sdp", "audio"), 111)),
    "audio/opus/48000/2",
  );
  const chromium = codecs("chromium-publish.sdp", "video");
  assert.equal(describeCodec(byPt(chromium, 100)), "video/VP9 (profile-id=2)");
  assert.equal(describeCodec(byPt(chromium, 97)), "video/rtx (apt=96)");
  assert.equal(describeCodec(byPt(chromium, 96)), "video/VP8");
  assert.equal(describeCodec(byPt(codecs("chromium-publish.sdp", "audio"), 0)), "audio/PCMU/8000");
  assert.equal(
    describeCodec(make("H264", 90000, { "profile-level-id": "42e01f" })),
    "video/H264 (profile-level-id=42e01f)",
  );
});
