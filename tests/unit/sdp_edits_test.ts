import assert from "node:assert/strict";
import { acceptBundleOnly } from "../../src/sdp/bundle.ts";
import {
  announceAddresses,
  iceParametersOf,
  replaceIceCredentials,
} from "../../src/sdp/candidates.ts";
import { setFmtpParameters } from "../../src/sdp/fmtp.ts";

const GSTREAMER_PUBLISH = Deno.readTextFileSync(
  new URL("../fixtures/gstreamer-publish.sdp", import.meta.url),
);

const UFRAG = "srvU";
const PWD = "serverPasswordOf22chars";

/** An answer as the server writes it: two bundled sections, host, srflx and relay candidates. */
const ANSWER_LINES = [
  "v=0",
  "o=- 4611731400430051336 2 IN IP4 0.0.0.0",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0 1",
  "a=msid-semantic:WMS *",
  "m=audio 50000 UDP/TLS/RTP/SAVPF 111",
  "c=IN IP4 10.0.0.5",
  `a=ice-ufrag:${UFRAG}`,
  `a=ice-pwd:${PWD}`,
  "a=ice-options:trickle",
  "a=fingerprint:sha-256 00:16:8C:C2:6C:DB:DC:60:FA:67:B5:16:CC:A4:96:18:8A:70:81:38:8A:8E:89:DD:4F:20:4B:79:F2:03:0D:17",
  "a=setup:passive",
  "a=mid:0",
  "a=recvonly",
  "a=rtcp-mux",
  "a=rtpmap:111 opus/48000/2",
  "a=fmtp:111 minptime=10;useinbandfec=1",
  "a=candidate:1a 1 udp 2130706431 10.0.0.5 50000 typ host generation 0",
  "a=candidate:2b 1 udp 2130706175 172.17.0.2 50002 typ host",
  "a=candidate:3c 1 tcp 1518280447 10.0.0.5 9 typ host tcptype active",
  "a=candidate:4d 1 udp 1694498815 198.51.100.9 50000 typ srflx raddr 10.0.0.5 rport 50000",
  "a=candidate:5e 1 udp 16777215 192.0.2.50 3478 typ relay raddr 198.51.100.9 rport 50000",
  "a=end-of-candidates",
  "m=video 50000 UDP/TLS/RTP/SAVPF 96 97",
  "c=IN IP4 10.0.0.5",
  `a=ice-ufrag:${UFRAG}`,
  `a=ice-pwd:${PWD}`,
  "a=mid:1",
  "a=recvonly",
  "a=rtcp-mux",
  "a=rtpmap:96 VP8/90000",
  "a=rtpmap:97 rtx/90000",
  "a=fmtp:97 apt=96",
  "a=candidate:1a 1 udp 2130706431 10.0.0.5 50000 typ host generation 0",
  "a=candidate:2b 1 udp 2130706175 172.17.0.2 50002 typ host",
  "a=candidate:3c 1 tcp 1518280447 10.0.0.5 9 typ host tcptype active",
  "a=candidate:4d 1 udp 1694498815 198.51.100.9 50000 typ srflx raddr 10.0.0.5 rport 50000",
  "a=candidate:5e 1 udp 16777215 192.0.2.50 3478 typ relay raddr 198.51.100.9 rport 50000",
  "a=end-of-candidates",
  "",
];
const ANSWER = ANSWER_LINES.join("\r\n");
const ANSWER_LF = ANSWER_LINES.join("\n");

const linesOf = (sdp: string) => sdp.split("\r\n");
const candidatesOf = (sdp: string) =>
  sdp.split(/\r?\n/).filter((l) => l.startsWith("a=candidate:"));
/** Every `\n` is preceded by `\r`, and the text ends with CRLF. */
const assertCrlf = (sdp: string) => {
  assert.ok(sdp.endsWith("\r\n"), "ends with CRLF");
  assert.equal(/(^|[^\r])\n/.test(sdp), false, "no bare LF");
  assert.equal(/\r(?!\n)/.test(sdp), false, "no bare CR");
};
/** The non-host candidates of one section. */
const NON_HOST = ANSWER_LINES.slice(18, 23).filter((l) => / typ (srflx|relay)/.test(l));
const NON_CANDIDATE = ANSWER_LINES.filter((l) => !l.startsWith("a=candidate:"));

Deno.test("announceAddresses", async (t) => {
  await t.step("no announced address: the SDP is returned unchanged", () => {
    assert.equal(announceAddresses(ANSWER, []), ANSWER);
    assert.equal(announceAddresses(ANSWER_LF, []), ANSWER_LF);
  });

  await t.step("one address replaces every host candidate's address, keeping ports", () => {
    const out = announceAddresses(ANSWER, ["203.0.113.7"]);
    assertCrlf(out);
    const audio = [
      "a=candidate:1a0 1 udp 2130706431 203.0.113.7 50000 typ host generation 0",
      "a=candidate:2b0 1 udp 2130706175 203.0.113.7 50002 typ host",
      "a=candidate:3c0 1 tcp 1518280447 203.0.113.7 9 typ host tcptype active",
      ...NON_HOST,
    ];
    assert.deepEqual(candidatesOf(out), [...audio, ...audio]);
    // Nothing else changed, in place and in order.
    assert.deepEqual(linesOf(out).filter((l) => !l.startsWith("a=candidate:")), NON_CANDIDATE);
    assert.equal(out.includes("10.0.0.5 50000 typ host"), false);
    assert.equal(out.includes("172.17.0.2"), false);
    // The candidates stay in their sections, before a=end-of-candidates.
    const lines = linesOf(out);
    const video = lines.indexOf("m=video 50000 UDP/TLS/RTP/SAVPF 96 97");
    assert.equal(
      lines.indexOf("a=candidate:1a0 1 udp 2130706431 203.0.113.7 50000 typ host generation 0"),
      18,
    );
    assert.ok(lines.indexOf("a=end-of-candidates") < video);
    assert.equal(lines.slice(video).filter((l) => l.startsWith("a=candidate:")).length, 5);
  });

  await t.step("two addresses: one candidate per address and local socket", () => {
    const out = announceAddresses(ANSWER, ["203.0.113.7", "2001:db8::7"]);
    assertCrlf(out);
    const audio = [
      "a=candidate:1a0 1 udp 2130706431 203.0.113.7 50000 typ host generation 0",
      "a=candidate:1a1 1 udp 2130706430 2001:db8::7 50000 typ host generation 0",
      "a=candidate:2b0 1 udp 2130706175 203.0.113.7 50002 typ host",
      "a=candidate:2b1 1 udp 2130706174 2001:db8::7 50002 typ host",
      "a=candidate:3c0 1 tcp 1518280447 203.0.113.7 9 typ host tcptype active",
      "a=candidate:3c1 1 tcp 1518280446 2001:db8::7 9 typ host tcptype active",
      ...NON_HOST,
    ];
    assert.deepEqual(candidatesOf(out), [...audio, ...audio]);
    assert.deepEqual(linesOf(out).filter((l) => !l.startsWith("a=candidate:")), NON_CANDIDATE);
  });

  await t.step("host candidates on the same port collapse into one per address", () => {
    // GStreamer: three addresses share TCP port 9 (active); UDP ports all differ.
    const out = announceAddresses(GSTREAMER_PUBLISH, ["203.0.113.7"]);
    assertCrlf(out);
    assert.deepEqual(candidatesOf(out), [
      "a=candidate:10 1 UDP 2015363327 203.0.113.7 36374 typ host",
      "a=candidate:20 1 TCP 1015021823 203.0.113.7 9 typ host tcptype active",
      "a=candidate:30 1 TCP 1010827519 203.0.113.7 39169 typ host tcptype passive",
      "a=candidate:40 1 UDP 2015363583 203.0.113.7 40604 typ host",
      "a=candidate:60 1 TCP 1010827775 203.0.113.7 44607 typ host tcptype passive",
      "a=candidate:70 1 UDP 2015363839 203.0.113.7 60753 typ host",
      "a=candidate:90 1 TCP 1010828031 203.0.113.7 39113 typ host tcptype passive",
    ]);
    assert.deepEqual(
      out.split("\r\n").filter((l) => !l.startsWith("a=candidate:")),
      GSTREAMER_PUBLISH.split("\r\n").filter((l) => !l.startsWith("a=candidate:")),
    );
  });

  await t.step("LF input stays LF", () => {
    const out = announceAddresses(ANSWER_LF, ["203.0.113.7"]);
    assert.equal(out.includes("\r"), false);
    assert.ok(out.endsWith("\n"));
    assert.deepEqual(candidatesOf(out), candidatesOf(announceAddresses(ANSWER, ["203.0.113.7"])));
  });
});

Deno.test("iceParametersOf", async (t) => {
  await t.step("credentials and the first section's candidates", () => {
    assert.deepEqual(iceParametersOf(ANSWER), {
      ufrag: UFRAG,
      pwd: PWD,
      candidates: ANSWER_LINES.slice(18, 23).map((l) => l.slice(2)),
    });
    assert.deepEqual(iceParametersOf(ANSWER_LF), iceParametersOf(ANSWER));
  });

  await t.step("values carry no trailing CR", () => {
    const p = iceParametersOf(ANSWER);
    for (const v of [p.ufrag, p.pwd, ...p.candidates]) assert.equal(v.includes("\r"), false, v);
    assert.ok(p.candidates.every((c) => c.startsWith("candidate:")));
  });

  await t.step("a real offer (GStreamer)", () => {
    const p = iceParametersOf(GSTREAMER_PUBLISH);
    assert.equal(p.ufrag, "kKJLM3jtIU4Q/T8oX8XN6CEObWN3lPgk");
    assert.equal(p.pwd, "auM5XzODigSs2xgqw/1Z6TgTMXsNsY35");
    assert.equal(p.candidates.length, 9);
    assert.equal(p.candidates[0], "candidate:1 1 UDP 2015363327 192.0.2.2 36374 typ host");
  });

  await t.step("session-level credentials and an SDP without candidates", () => {
    const sdp = "v=0\r\na=ice-ufrag:sess\r\na=ice-pwd:sessionpassword12345678\r\nm=audio 9 x 0\r\n";
    assert.deepEqual(iceParametersOf(sdp), {
      ufrag: "sess",
      pwd: "sessionpassword12345678",
      candidates: [],
    });
    assert.deepEqual(iceParametersOf(""), { ufrag: "", pwd: "", candidates: [] });
  });
});

Deno.test("replaceIceCredentials", async (t) => {
  await t.step("every section's credentials are replaced, CRLF kept", () => {
    const out = replaceIceCredentials(ANSWER, "newU", "newPasswordNewPassword1");
    assertCrlf(out);
    const lines = linesOf(out);
    assert.equal(lines.filter((l) => l === "a=ice-ufrag:newU").length, 2);
    assert.equal(lines.filter((l) => l === "a=ice-pwd:newPasswordNewPassword1").length, 2);
    assert.equal(out.includes(UFRAG + "\r"), false);
    assert.equal(out.includes(PWD), false);
    // Everything else is byte-identical.
    assert.equal(
      out.replaceAll("a=ice-ufrag:newU", `a=ice-ufrag:${UFRAG}`).replaceAll(
        "a=ice-pwd:newPasswordNewPassword1",
        `a=ice-pwd:${PWD}`,
      ),
      ANSWER,
    );
  });

  await t.step("on a real CRLF offer", () => {
    const out = replaceIceCredentials(GSTREAMER_PUBLISH, "abcd", "0123456789abcdefghijkl");
    assertCrlf(out);
    assert.equal(out.split("\r\n").length, GSTREAMER_PUBLISH.split("\r\n").length);
    assert.deepEqual(iceParametersOf(out).ufrag, "abcd");
    assert.deepEqual(iceParametersOf(out).pwd, "0123456789abcdefghijkl");
    assert.equal(out.includes("kKJLM3jtIU4Q"), false);
  });

  await t.step("LF input stays LF", () => {
    const out = replaceIceCredentials(ANSWER_LF, "newU", "newPasswordNewPassword1");
    assert.equal(out.includes("\r"), false);
    assert.equal(out.split("\n").length, ANSWER_LINES.length);
  });
});

Deno.test("setFmtpParameters", async (t) => {
  await t.step("merges into an existing line, keeping its parameters and order", () => {
    const out = setFmtpParameters(ANSWER, 111, { stereo: "1", "sprop-stereo": "1" });
    assertCrlf(out);
    assert.equal(
      out,
      ANSWER.replace(
        "a=fmtp:111 minptime=10;useinbandfec=1\r\n",
        "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1\r\n",
      ),
    );
  });

  await t.step("overrides a parameter already present, in place", () => {
    const sdp = ANSWER.replace("minptime=10;useinbandfec=1", "stereo=0;minptime=10");
    const out = setFmtpParameters(sdp, 111, { stereo: "1" });
    assert.ok(linesOf(out).includes("a=fmtp:111 stereo=1;minptime=10"));
    assert.equal(linesOf(out).filter((l) => l.startsWith("a=fmtp:111 ")).length, 1);
  });

  await t.step("adds a missing line right after the rtpmap", () => {
    const out = setFmtpParameters(ANSWER, 96, { "max-fs": "12288", "max-fr": "60" });
    assertCrlf(out);
    const lines = linesOf(out);
    const rtpmap = lines.indexOf("a=rtpmap:96 VP8/90000");
    assert.equal(lines[rtpmap + 1], "a=fmtp:96 max-fs=12288;max-fr=60");
    assert.equal(lines.length, linesOf(ANSWER).length + 1);
    assert.deepEqual(lines.toSpliced(rtpmap + 1, 1), linesOf(ANSWER));
  });

  await t.step("an unknown payload type leaves the SDP unchanged", () => {
    assert.equal(setFmtpParameters(ANSWER, 100, { stereo: "1" }), ANSWER);
    // 11 is a prefix of 111 but not the same payload type.
    assert.equal(setFmtpParameters(ANSWER, 11, { stereo: "1" }), ANSWER);
  });

  await t.step("only the given payload type's line is touched", () => {
    const out = setFmtpParameters(ANSWER, 97, { "rtx-time": "3000" });
    assert.ok(linesOf(out).includes("a=fmtp:97 apt=96;rtx-time=3000"));
    assert.ok(linesOf(out).includes("a=fmtp:111 minptime=10;useinbandfec=1"));
  });

  await t.step("LF input stays LF", () => {
    const out = setFmtpParameters(ANSWER_LF, 111, { stereo: "1" });
    assert.equal(out.includes("\r"), false);
    assert.ok(out.includes("\na=fmtp:111 minptime=10;useinbandfec=1;stereo=1\n"));
  });

  await t.step("values containing '=' (base64 sprop-parameter-sets) are kept whole", () => {
    const sdp = [
      "v=0",
      "m=video 9 UDP/TLS/RTP/SAVPF 102",
      "a=rtpmap:102 H264/90000",
      "a=fmtp:102 packetization-mode=1;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==",
      "",
    ].join("\r\n");
    const out = setFmtpParameters(sdp, 102, { "level-asymmetry-allowed": "1" });
    assert.ok(
      linesOf(out).includes(
        "a=fmtp:102 packetization-mode=1;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==;level-asymmetry-allowed=1",
      ),
      out,
    );
  });
});

Deno.test("acceptBundleOnly", async (t) => {
  await t.step("GStreamer's bundle-only port-0 audio gets port 9, nothing else changes", () => {
    const out = acceptBundleOnly(GSTREAMER_PUBLISH);
    assert.ok(GSTREAMER_PUBLISH.includes("\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\n"));
    assert.equal(
      out,
      GSTREAMER_PUBLISH.replace(
        "\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\n",
        "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
      ),
    );
    const before = GSTREAMER_PUBLISH.split("\r\n");
    const after = out.split("\r\n");
    assert.equal(after.length, before.length);
    const changed = before.flatMap((l, i) => (l === after[i] ? [] : [i]));
    assert.deepEqual(changed.map((i) => after[i]), ["m=audio 9 UDP/TLS/RTP/SAVPF 111"]);
  });

  await t.step("an SDP without bundle-only is returned unchanged", () => {
    assert.equal(acceptBundleOnly(ANSWER), ANSWER);
    // Port 0 without bundle-only means rejected, and stays so.
    const rejected = ANSWER.replace("m=video 50000", "m=video 0");
    assert.equal(acceptBundleOnly(rejected), rejected);
  });

  await t.step("only port-0 sections carrying bundle-only change", () => {
    const sdp = [
      "v=0",
      "o=- 1 0 IN IP4 0.0.0.0",
      "s=-",
      "t=0 0",
      "a=group:BUNDLE a v",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111",
      "a=mid:a",
      "m=video 0 UDP/TLS/RTP/SAVPF 96",
      "a=mid:v",
      "a=bundle-only",
      "m=application 0 UDP/DTLS/SCTP webrtc-datachannel",
      "a=mid:d",
      "",
    ];
    const expected = sdp.with(7, "m=video 9 UDP/TLS/RTP/SAVPF 96");
    assert.equal(acceptBundleOnly(sdp.join("\r\n")), expected.join("\r\n"));
    assert.equal(acceptBundleOnly(sdp.join("\n")), expected.join("\n"));
  });

  await t.step("a bundle-only section with a non-zero port is left alone", () => {
    const sdp = "v=0\r\nm=audio 5000 RTP/AVP 0\r\na=bundle-only\r\n";
    assert.equal(acceptBundleOnly(sdp), sdp);
  });
});
