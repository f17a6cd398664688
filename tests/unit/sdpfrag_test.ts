import assert from "node:assert/strict";
import { SdpError } from "../../src/errors.ts";
import {
  isUsableCandidate,
  parseCandidate,
  parseSdpFrag,
  type SdpFrag,
  serializeSdpFrag,
} from "../../src/sdp/sdpfrag.ts";

/** RFC 9725 §4.3.1, Figure "Trickle ICE request" (the body of the PATCH). */
const RFC9725_TRICKLE = [
  "a=group:BUNDLE 0",
  "m=audio 9 UDP/TLS/RTP/SAVPF 111",
  "a=mid:0",
  "a=ice-ufrag:EsAw",
  "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1",
  "a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1",
  "a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2",
  "a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1",
  "a=candidate:2154773085 1 tcp 1518214911 198.51.100.2 9 typ host tcptype active generation 0 ufrag EsAw network-id 2",
  "a=end-of-candidates",
].join("\r\n") + "\r\n";

Deno.test("parseSdpFrag", async (t) => {
  await t.step("RFC 9725 §4.3.1 trickle example: media-level credentials and candidates", () => {
    const frag = parseSdpFrag(RFC9725_TRICKLE);
    assert.equal(frag.iceUfrag, undefined);
    assert.equal(frag.endOfCandidates, false);
    assert.equal(frag.media.length, 1);
    const [media] = frag.media;
    assert.equal(media.mid, "0");
    assert.equal(media.mLineIndex, 0);
    assert.equal(media.iceUfrag, "EsAw");
    assert.equal(media.icePwd, "P2uYro0UCOQ4zxjKXaWCBui1");
    assert.equal(media.endOfCandidates, true);
    assert.equal(media.candidates.length, 4);
    assert.equal(
      media.candidates[0],
      "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1",
    );
    // The server silently drops the TCP candidates.
    assert.deepEqual(media.candidates.filter(isUsableCandidate), media.candidates.slice(0, 2));
  });

  await t.step("session-level credentials and ice-options, LF endings, dummy m-line", () => {
    const frag = parseSdpFrag(
      "a=ice-options:trickle ice2\na=ice-ufrag:EsAw\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\n" +
        "m=audio 9 RTP/AVP 0\na=mid:0\n" +
        "a=candidate:1 1 UDP 2015363327 192.0.2.2 36374 typ host\n",
    );
    assert.deepEqual(frag, {
      iceOptions: ["trickle", "ice2"],
      iceUfrag: "EsAw",
      icePwd: "P2uYro0UCOQ4zxjKXaWCBui1",
      endOfCandidates: false,
      media: [{
        mid: "0",
        mLineIndex: 0,
        candidates: ["candidate:1 1 UDP 2015363327 192.0.2.2 36374 typ host"],
        endOfCandidates: false,
      }],
    });
  });

  await t.step("several m-lines get increasing mLineIndex; session end-of-candidates", () => {
    const frag = parseSdpFrag(
      "a=end-of-candidates\r\nm=audio 9 RTP/AVP 0\r\na=mid:a\r\nm=video 9 RTP/AVP 0\r\na=mid:v\r\n",
    );
    assert.equal(frag.endOfCandidates, true);
    assert.deepEqual(frag.media.map((m) => [m.mid, m.mLineIndex]), [["a", 0], ["v", 1]]);
  });

  await t.step("malformed bodies throw SdpError", () => {
    const cases: [string, RegExp][] = [
      ["", /empty/],
      ["\r\n\r\n", /empty/],
      ["v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n", /full SDP/],
      ["a=ice-ufrag:abcd\r\no=- 1 2 IN IP4 127.0.0.1\r\n", /full SDP/],
      ["hello world\r\n", /x=value/],
      ["a=ice-ufrag:abcd\r\n\r\na=ice-pwd:x\r\n", /line 2/],
      ["m=audio RTP/AVP 0\r\na=mid:0\r\n", /malformed m-line/],
      ["m=audio 9 RTP/AVP\r\n", /malformed m-line/],
      ["a=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\n", /before any m-line/],
      ["m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 212 192.0.2.1 61764 host\r\n", /candidate/],
      ["m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 212 192.0.2.1 70000 typ host\r\n", /port/],
      ["m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp -5 192.0.2.1 5000 typ host\r\n", /priority/],
      ["m=audio 9 RTP/AVP 0\r\na=candidate:1 0 udp 5 192.0.2.1 5000 typ host\r\n", /component/],
      ["m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 5 192.0.2.1 5000 typ\r\n", /fields/],
      [
        "m=audio 9 RTP/AVP 0\r\na=candidate:1 1 udp 5 192.0.2.1 5000 typ host generation\r\n",
        /value/,
      ],
      ["m=audio 9 RTP/AVP 0\r\na=candidate:\r\n", /candidate/],
      ["a=ice-ufrag:\r\n", /empty value/],
      ["s=-\r\n", /full SDP/],
      ["b=AS:30\r\n", /do not belong/],
    ];
    for (const [body, detail] of cases) {
      assert.throws(() => parseSdpFrag(body), (e: unknown) => {
        assert.ok(e instanceof SdpError, `${JSON.stringify(body)} threw ${e}`);
        assert.match(e.message, detail, JSON.stringify(body));
        return true;
      });
    }
  });
});

Deno.test("serializeSdpFrag", async (t) => {
  const frag: SdpFrag = {
    iceOptions: ["trickle"],
    iceUfrag: "EsAw",
    icePwd: "P2uYro0UCOQ4zxjKXaWCBui1",
    endOfCandidates: false,
    media: [{
      mid: "0",
      mLineIndex: 0,
      candidates: [
        "candidate:1 1 udp 2113937151 192.0.2.1 5000 typ host",
        "candidate:2 1 udp 1677729535 203.0.113.7 6000 typ srflx raddr 192.0.2.1 rport 5000",
      ],
      endOfCandidates: true,
    }],
  };

  await t.step("writes CRLF lines in the documented order", () => {
    assert.equal(
      serializeSdpFrag(frag),
      "a=ice-options:trickle\r\n" +
        "a=ice-ufrag:EsAw\r\n" +
        "a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n" +
        "m=audio 9 RTP/AVP 0\r\n" +
        "a=mid:0\r\n" +
        "a=candidate:1 1 udp 2113937151 192.0.2.1 5000 typ host\r\n" +
        "a=candidate:2 1 udp 1677729535 203.0.113.7 6000 typ srflx raddr 192.0.2.1 rport 5000\r\n" +
        "a=end-of-candidates\r\n",
    );
  });

  await t.step("round trips through parseSdpFrag", () => {
    assert.deepEqual(parseSdpFrag(serializeSdpFrag(frag)), frag);
    const rfc = parseSdpFrag(RFC9725_TRICKLE);
    assert.deepEqual(parseSdpFrag(serializeSdpFrag(rfc)), rfc);
  });

  await t.step("writes a session-level end-of-candidates before the m-lines", () => {
    const done: SdpFrag = { endOfCandidates: true, media: [] };
    assert.equal(serializeSdpFrag(done), "a=end-of-candidates\r\n");
    assert.deepEqual(parseSdpFrag(serializeSdpFrag(done)), done);
  });

  await t.step("omits what is absent", () => {
    assert.equal(
      serializeSdpFrag({
        endOfCandidates: false,
        media: [{ mLineIndex: 0, candidates: [], endOfCandidates: false }],
      }),
      "m=audio 9 RTP/AVP 0\r\n",
    );
  });
});

Deno.test("parseCandidate", async (t) => {
  await t.step("reads every RFC 8839 field and the extensions", () => {
    assert.deepEqual(
      parseCandidate(
        "candidate:2 1 UDP 1677729535 203.0.113.7 6000 typ srflx raddr 192.0.2.1 rport 5000 generation 0 network-id 1",
      ),
      {
        foundation: "2",
        component: 1,
        transport: "udp",
        priority: 1677729535,
        address: "203.0.113.7",
        port: 6000,
        type: "srflx",
        relatedAddress: "192.0.2.1",
        relatedPort: 5000,
        extensions: { generation: "0", "network-id": "1" },
      },
    );
  });

  await t.step("accepts an a= prefix and rejects what is not a candidate", () => {
    assert.equal(parseCandidate("a=candidate:1 1 udp 1 192.0.2.1 9 typ host").port, 9);
    assert.throws(() => parseCandidate("candidate 1 1 udp 1 192.0.2.1 9 typ host"), SdpError);
    assert.throws(() => parseCandidate("candidate:1 1 udp 1 192.0.2.1 9 typ host raddr"), SdpError);
    assert.throws(
      () => parseCandidate("candidate:1 1 udp 1 192.0.2.1 9 typ host rport x"),
      SdpError,
    );
    assert.throws(() => parseCandidate("candidate:1 1 udp 1 bad!addr 9 typ host"), SdpError);
  });
});

Deno.test("isUsableCandidate", () => {
  const cases: [string, boolean][] = [
    ["candidate:1 1 udp 2113937151 192.0.2.1 5000 typ host", true],
    ["candidate:1 1 UDP 2015363583 fd00::2 40604 typ host", true],
    ["candidate:1 1 udp 2015363839 fe80::fc:ff:fe00:1 60753 typ host", true],
    ["candidate:1 1 udp 2015363839 ::ffff:192.0.2.1 60753 typ host", true],
    ["candidate:2 1 udp 1677729535 203.0.113.7 6000 typ srflx raddr 192.0.2.1 rport 5000", true],
    ["candidate:3 1 udp 1845501695 203.0.113.7 6001 typ prflx", true],
    ["candidate:4 1 udp 41885439 198.51.100.9 3478 typ relay raddr 203.0.113.7 rport 6000", true],
    ["a=candidate:1 1 udp 2113937151 192.0.2.1 5000 typ host", true],
    // RFC 9725: servers silently drop what they cannot use.
    ["candidate:5 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active", false],
    ["candidate:5 1 tcp 1518280447 192.0.2.1 45000 typ host tcptype passive", false],
    [
      "candidate:6 1 udp 2113937151 4b3c5a0e-1f6d-4b2a-9c7e-0d1e2f3a4b5c.local 5000 typ host",
      false,
    ],
    ["candidate:7 1 udp 2113937151 example.com 5000 typ host", false],
    ["candidate:8 2 udp 2113937150 192.0.2.1 5001 typ host", false],
    ["candidate:9 1 udp 2113937151 192.0.2.1 0 typ host", false],
    ["candidate:9 1 udp 2113937151 256.0.2.1 5000 typ host", false],
    ["candidate:9 1 udp 2113937151 1:::2 5000 typ host", false],
    ["candidate:9 1 udp 2113937151 1::2:3:4:5:6:7:8 5000 typ host", false],
    ["candidate:9 1 udp 2113937151 2001:db8:0:0:0:0:0:1 5000 typ host", true],
    ["candidate:9 1 udp 2113937151 1:2:3:4:5:6:7:8:9 5000 typ host", false],
    ["candidate:9 1 udp 2113937151 192.0.2.1 5000 typ weird", false],
    ["not a candidate", false],
    ["", false],
  ];
  for (const [candidate, usable] of cases) {
    assert.equal(isUsableCandidate(candidate), usable, candidate);
  }
});
