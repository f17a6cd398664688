import assert from "node:assert/strict";
import { SdpError } from "../../src/errors.ts";
import { type Codec, type MediaSection, parseSdp } from "../../src/sdp/offer.ts";
import { SDP_LIMITS, SdpLimitError } from "../../src/sdp/limits.ts";
import { oversizedOffer, type OversizedShape } from "../hostile/arbitraries.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const fixture = (name: string) => Deno.readTextFileSync(new URL(name, FIXTURES));
const FIXTURE_NAMES = [
  "chromium-play.sdp",
  "chromium-publish-lf.sdp",
  "chromium-publish.sdp",
  "gstreamer-play.sdp",
  "gstreamer-publish.sdp",
  "libdatachannel-play.sdp",
  "libdatachannel-publish.sdp",
  "libwebrtc-m106-play.sdp",
  "libwebrtc-m106-publish.sdp",
  "obs-style-publish.sdp",
  "pion-play.sdp",
  "pion-publish.sdp",
];

const codec = (s: MediaSection, pt: number): Codec => {
  const found = s.codecs.find((c) => c.payloadType === pt);
  assert.ok(found, `payload type ${pt} in ${s.kind}`);
  return found;
};
const pts = (s: MediaSection, name: string) =>
  s.codecs.filter((c) => c.name.toLowerCase() === name).map((c) => c.payloadType);

Deno.test("parseSdp on the real fixtures", async (t) => {
  await t.step("every fixture parses, with audio, video, credentials and a fingerprint", () => {
    const present = [...Deno.readDirSync(FIXTURES)].map((e) => e.name).filter((n) =>
      n.endsWith(".sdp")
    );
    assert.deepEqual(present.sort(), FIXTURE_NAMES);
    for (const name of FIXTURE_NAMES) {
      const sdp = parseSdp(fixture(name));
      assert.deepEqual(sdp.media.map((m) => m.kind).sort(), ["audio", "video"], name);
      assert.match(sdp.fingerprint ?? "", /^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/, name);
      assert.deepEqual(sdp.bundle, sdp.media.map((m) => m.mid), name);
      for (const m of sdp.media) {
        assert.ok(m.iceUfrag && m.icePwd, `${name} ${m.kind} credentials`);
        assert.equal(m.direction, name.includes("play") ? "recvonly" : "sendonly", name);
        assert.ok(m.codecs.length > 0, `${name} ${m.kind} codecs`);
      }
    }
  });

  await t.step("chromium-publish: codecs in m-line order with rtpmap, fmtp and rtcp-fb", () => {
    const sdp = parseSdp(fixture("chromium-publish.sdp"));
    const [video, audio] = sdp.media;
    assert.deepEqual([video.index, video.kind, video.mid, video.port], [0, "video", "0", 35015]);
    assert.equal(video.protocol, "UDP/TLS/RTP/SAVPF");
    assert.equal(video.codecs[0].name, "VP8");
    assert.deepEqual(video.codecs.map((c) => c.payloadType), [
      96,
      97,
      102,
      103,
      104,
      107,
      108,
      109,
      114,
      115,
      116,
      117,
      39,
      40,
      45,
      46,
      98,
      99,
      100,
      101,
      118,
      119,
      120,
    ]);
    assert.deepEqual(pts(video, "h264"), [102, 104, 108, 114, 116, 39]);
    assert.deepEqual(codec(video, 102), {
      payloadType: 102,
      name: "H264",
      clockRate: 90000,
      fmtp: {
        "level-asymmetry-allowed": "1",
        "packetization-mode": "1",
        "profile-level-id": "42001f",
      },
      fmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
      rtcpFeedback: [
        { type: "goog-remb" },
        { type: "transport-cc" },
        { type: "ccm", parameter: "fir" },
        { type: "nack" },
        { type: "nack", parameter: "pli" },
      ],
    });
    assert.deepEqual(codec(video, 97).fmtp, { apt: "96" });
    assert.equal(codec(video, 120).fmtpLine, undefined);
    assert.deepEqual(video.extmaps[9], {
      id: 10,
      uri: "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    });
    assert.equal(video.candidates.length, 4);
    assert.equal(video.candidates.filter((c) => c.includes(" tcp ")).length, 2);
    assert.equal(video.iceUfrag, "sPtr");
    assert.equal(sdp.iceUfrag, undefined); // media level only
    assert.equal(video.bundleOnly, false);
    assert.deepEqual(video.rids, []);

    const opus = codec(audio, 111);
    assert.deepEqual([opus.name, opus.clockRate, opus.channels], ["opus", 48000, 2]);
    assert.deepEqual(opus.fmtp, { minptime: "10", useinbandfec: "1" });
    assert.deepEqual(codec(audio, 63).fmtp, {}); // RED's "111/111" has no key=value
    assert.equal(codec(audio, 63).fmtpLine, "111/111");
    assert.equal(codec(audio, 0).channels, undefined);
    assert.deepEqual(audio.codecs.map((c) => c.payloadType), [111, 63, 9, 0, 8, 13, 110, 126]);
  });

  await t.step("the LF copy parses exactly like the CRLF original", () => {
    assert.ok(!fixture("chromium-publish-lf.sdp").includes("\r"));
    assert.deepEqual(
      parseSdp(fixture("chromium-publish-lf.sdp")),
      parseSdp(fixture("chromium-publish.sdp")),
    );
  });

  await t.step("gstreamer: bundle-only port 0 section, upper-case OPUS", () => {
    for (const name of ["gstreamer-publish.sdp", "gstreamer-play.sdp"]) {
      const [video, audio] = parseSdp(fixture(name)).media;
      assert.deepEqual([audio.mid, audio.port, audio.bundleOnly], ["audio1", 0, true]);
      assert.equal(video.bundleOnly, false);
      assert.equal(codec(audio, 111).name, "OPUS");
      assert.equal(audio.candidates.length, 0);
      assert.equal(video.candidates.length, 9);
      assert.equal(audio.iceUfrag, video.iceUfrag);
    }
  });

  await t.step("pion: duplicate and space-padded rtcp-fb lines are deduplicated", () => {
    const [video, audio] = parseSdp(fixture("pion-publish.sdp")).media;
    assert.deepEqual(codec(video, 96).rtcpFeedback, [
      { type: "goog-remb" },
      { type: "ccm", parameter: "fir" },
      { type: "nack" },
      { type: "nack", parameter: "pli" },
      { type: "transport-cc" },
    ]);
    assert.deepEqual(codec(video, 100).fmtp, { "profile-id": "1" });
    assert.equal(video.candidates.length, 4);
    assert.equal(audio.candidates.length, 0);
  });

  await t.step("obs-style: session-level credentials, no candidates, mid/rid extensions", () => {
    const sdp = parseSdp(fixture("obs-style-publish.sdp"));
    const [audio, video] = sdp.media;
    assert.deepEqual([sdp.iceUfrag, sdp.icePwd], ["nxcM", "ezjAjgSSLLvbRhUA1zc6Se"]);
    assert.deepEqual([audio.iceUfrag, video.icePwd], ["nxcM", "ezjAjgSSLLvbRhUA1zc6Se"]);
    assert.deepEqual([audio.candidates, video.candidates], [[], []]);
    assert.deepEqual(audio.codecs.map((c) => [c.payloadType, c.name]), [[111, "opus"]]);
    assert.deepEqual(video.codecs.map((c) => [c.payloadType, c.name]), [[96, "H264"]]);
    assert.equal(codec(video, 96).fmtp["profile-level-id"], "42e01f");
    assert.deepEqual(video.extmaps, [
      { id: 1, uri: "urn:ietf:params:rtp-hdrext:sdes:mid" },
      { id: 2, uri: "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" },
    ]);
  });

  await t.step("libdatachannel: one port for every m-line, LS group ignored", () => {
    const sdp = parseSdp(fixture("libdatachannel-publish.sdp"));
    assert.deepEqual(sdp.media.map((m) => m.port), [53587, 53587]);
    assert.deepEqual(sdp.bundle, ["0", "1"]);
    assert.deepEqual(pts(sdp.media[0], "h264"), [96]);
  });

  await t.step("libwebrtc M106 has no H264 but has AV1", () => {
    const [video] = parseSdp(fixture("libwebrtc-m106-publish.sdp")).media;
    assert.deepEqual(pts(video, "h264"), []);
    assert.deepEqual(pts(video, "av1"), [39]);
  });
});

const FP = "sha-256 " + Array(32).fill("AB").join(":");
const MINIMAL = [
  "v=0",
  "o=- 1 2 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0",
  `a=fingerprint:${FP}`,
  "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
  "c=IN IP4 0.0.0.0",
  "a=mid:0",
  "a=ice-ufrag:abcd",
  "a=ice-pwd:abcdefghijklmnopqrstuv",
  "a=rtpmap:96 VP8/90000",
  "a=rtpmap:97 rtx/90000",
  "a=fmtp:97 apt=96",
].join("\r\n") + "\r\n";
const CREDS = "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n";

Deno.test("parseSdp semantics", async (t) => {
  await t.step("the minimal offer parses; direction defaults to sendrecv", () => {
    const sdp = parseSdp(MINIMAL);
    assert.equal(sdp.media[0].direction, "sendrecv");
    assert.equal(sdp.fingerprint, FP);
    assert.deepEqual(sdp.media[0].codecs.map((c) => c.name), ["VP8", "rtx"]);
  });

  await t.step("session-level direction applies unless the section overrides it", () => {
    const sdp = parseSdp(
      MINIMAL.replace("t=0 0", "t=0 0\r\na=recvonly") +
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=inactive\r\na=rtpmap:111 opus/48000/2\r\n" +
        CREDS,
    );
    assert.deepEqual(sdp.media.map((m) => m.direction), ["recvonly", "inactive"]);
  });

  await t.step("media-level credentials override session-level ones", () => {
    const sdp = parseSdp(
      MINIMAL.replace("t=0 0", "t=0 0\r\na=ice-ufrag:SESS\r\na=ice-pwd:sessionpasswordsession") +
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n",
    );
    assert.deepEqual([sdp.iceUfrag, sdp.media[0].iceUfrag, sdp.media[1].iceUfrag], [
      "SESS",
      "abcd",
      "SESS",
    ]);
  });

  await t.step("rid, simulcast, wildcard rtcp-fb, static payload types, data channel", () => {
    const sdp = parseSdp(
      MINIMAL.replace("96 97", "96 97 0").replace("a=group:BUNDLE 0", "a=group:BUNDLE 0 2") +
        "a=rtcp-fb:* nack\r\na=rtcp-fb:96 nack\r\na=rid:h send max-width=1280\r\na=rid:l send\r\n" +
        "a=simulcast:send h;l\r\n" +
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\na=sctp-port:5000\r\n" +
        CREDS,
    );
    const [video, data] = sdp.media;
    assert.deepEqual(video.rids, [{ id: "h", direction: "send" }, { id: "l", direction: "send" }]);
    assert.equal(video.simulcast, "send h;l");
    assert.deepEqual(codec(video, 96).rtcpFeedback, [{ type: "nack" }]);
    assert.deepEqual(codec(video, 0), {
      payloadType: 0,
      name: "PCMU",
      clockRate: 8000,
      fmtp: {},
      rtcpFeedback: [{ type: "nack" }],
    });
    assert.deepEqual([data.kind, data.protocol, data.codecs], ["application", "UDP/DTLS/SCTP", []]);
  });

  await t.step("a rejected section (port 0, not bundle-only) needs no credentials", () => {
    const sdp = parseSdp(
      MINIMAL + "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n",
    );
    assert.deepEqual([sdp.media[1].port, sdp.media[1].iceUfrag], [0, undefined]);
  });
});

Deno.test("parseSdp rejects malformed SDP with SdpError", async (t) => {
  const noCreds = MINIMAL.replace("a=ice-ufrag:abcd\r\n", "");
  const cases: [string, string, RegExp][] = [
    ["empty", "", /empty/],
    ["blank", "\r\n\r\n", /empty/],
    ["not SDP", "hello", /v=0/],
    ["wrong version", MINIMAL.replace("v=0", "v=1"), /v=0/],
    ["no m-line", MINIMAL.slice(0, MINIMAL.indexOf("m=")), /no m= line/],
    ["line without x=", MINIMAL.replace("c=IN", "cIN"), /line 8/],
    ["empty line inside", MINIMAL.replace("s=-\r\n", "s=-\r\n\r\n"), /line 4/],
    ["m-line port", MINIMAL.replace("m=video 9", "m=video nine"), /malformed m-line/],
    ["m-line port range", MINIMAL.replace("m=video 9", "m=video 70000"), /malformed m-line/],
    ["m-line no formats", MINIMAL.replace(" 96 97", ""), /malformed m-line/],
    ["payload type", MINIMAL.replace("96 97", "96 x"), /payload type/],
    ["missing ice-ufrag", noCreds, /ice-ufrag/],
    [
      "missing ice-ufrag, bundle-only",
      noCreds.replace("9 UDP", "0 UDP") + "a=bundle-only\r\n",
      /ice/,
    ],
    ["no fingerprint", MINIMAL.replace(`a=fingerprint:${FP}\r\n`, ""), /fingerprint/],
    ["bad fingerprint", MINIMAL.replace(FP, "sha-256 nothex"), /fingerprint/],
    [
      "data channel only",
      MINIMAL.replace(/m=video[^]*$/, "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n")
        .replace("a=group:BUNDLE 0\r\n", "") + CREDS,
      /no audio or video/,
    ],
    [
      "video over SCTP",
      MINIMAL.replace("UDP/TLS/RTP/SAVPF 96 97", "UDP/DTLS/SCTP x"),
      /must use RTP/,
    ],
    ["only rejected media", MINIMAL.replace("m=video 9", "m=video 0"), /no audio or video/],
    ["rtpmap without clock", MINIMAL.replace("VP8/90000", "VP8"), /rtpmap/],
    ["rtpmap zero clock", MINIMAL.replace("VP8/90000", "VP8/0"), /rtpmap/],
    ["rtpmap payload type", MINIMAL.replace("rtpmap:96", "rtpmap:300"), /rtpmap/],
    ["rtpmap twice", MINIMAL + "a=rtpmap:96 VP9/90000\r\n", /second a=rtpmap/],
    ["no rtpmap", MINIMAL.replace("a=rtpmap:96 VP8/90000\r\n", ""), /no a=rtpmap/],
    ["fmtp", MINIMAL.replace("fmtp:97 apt", "fmtp:apt"), /fmtp/],
    ["rtcp-fb", MINIMAL + "a=rtcp-fb:96\r\n", /rtcp-fb/],
    ["rid", MINIMAL + "a=rid:h sideways\r\n", /rid/],
    ["extmap", MINIMAL + "a=extmap:0 urn:x\r\n", /extmap/],
    ["candidate", MINIMAL + "a=candidate:1 1 udp 1 192.0.2.1 5000 host\r\n", /candidate/],
    ["empty ice-pwd", MINIMAL.replace("ice-pwd:abcdefghijklmnopqrstuv", "ice-pwd:"), /empty/],
    ["duplicate mid", MINIMAL + "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" + CREDS, /mid "0"/],
    ["unknown BUNDLE mid", MINIMAL.replace("BUNDLE 0", "BUNDLE 0 1"), /BUNDLE/],
  ];
  for (const [label, sdp, detail] of cases) {
    await t.step(label, () => {
      assert.throws(() => parseSdp(sdp), (e: unknown) => {
        assert.ok(e instanceof SdpError, `threw ${e}`);
        assert.match(e.message, detail);
        return true;
      });
    });
  }

  await t.step("every truncation or damaged line of a real offer parses or throws SdpError", () => {
    const lines = fixture("chromium-publish.sdp").split("\r\n");
    const variants = lines.flatMap((line, i) => [
      lines.slice(0, i).join("\r\n"),
      [...lines.slice(0, i), line.slice(0, Math.ceil(line.length / 2)), ...lines.slice(i + 1)]
        .join("\r\n"),
      [...lines.slice(0, i), line.replaceAll(" ", "  "), ...lines.slice(i + 1)].join("\r\n"),
    ]);
    let rejected = 0;
    for (const sdp of variants) {
      try {
        parseSdp(sdp);
      } catch (e) {
        assert.ok(e instanceof SdpError, `${e}`);
        rejected++;
      }
    }
    assert.ok(rejected > lines.length, `only ${rejected} of ${variants.length} rejected`);
  });
});

Deno.test("parseSdp caps: over-sized offers are SdpLimitError (422), real ones pass", async (t) => {
  const base = fixture("obs-style-publish.sdp");
  const shapes: [OversizedShape, RegExp][] = [
    [{ kind: "m-lines", count: 200 }, /more than 4 m-lines/],
    [{ kind: "m-lines", count: 5 }, /more than 4 m-lines/],
    [{ kind: "m-lines", count: 3 }, /more than 1 video m-lines in use/],
    [{ kind: "audio", count: 2 }, /more than 1 audio m-lines in use/],
    [{ kind: "candidates", count: 33 }, /more than 32 candidates per m-line/],
    [{ kind: "payload-types", count: 65 }, /more than 64 payload types/],
    [{ kind: "rids", count: 5 }, /more than 4 simulcast layers/],
    [{ kind: "lines", count: 1501 }, /more than 1500 lines/],
  ];
  for (const [shape, detail] of shapes) {
    await t.step(`${shape.count} ${shape.kind}`, () => {
      assert.throws(() => parseSdp(oversizedOffer(base, shape)), (e: unknown) => {
        assert.ok(e instanceof SdpLimitError, `threw ${e}`);
        assert.equal(e.code, "unprocessable");
        assert.match(e.message, detail);
        return true;
      });
    });
  }
  await t.step("at the caps: 4 rids, 32 candidates, 64 payload types parse", () => {
    parseSdp(oversizedOffer(base, { kind: "rids", count: 4 }));
    parseSdp(oversizedOffer(base, { kind: "candidates", count: 32 }));
    parseSdp(oversizedOffer(base, { kind: "payload-types", count: 64 }));
  });
  await t.step("every fixture is well under every cap", () => {
    for (const name of FIXTURE_NAMES) {
      const sdp = fixture(name);
      assert.ok(sdp.split("\n").length < SDP_LIMITS.lines / 4, name);
      for (const s of parseSdp(sdp).media) {
        assert.ok(s.codecs.length <= SDP_LIMITS.payloadTypesPerSection / 1.5, name);
        assert.ok(s.candidates.length <= SDP_LIMITS.candidatesPerSection / 2, name);
      }
    }
  });
});
