import assert from "node:assert/strict";
import { answerFor, fragFor, restartFrag, run, USAGE } from "../../src/cli/sdp.ts";
import { parseSdpFrag } from "../../src/sdp/sdpfrag.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url);
const obs = await Deno.readTextFile(new URL("obs-style-publish.sdp", FIXTURES));

Deno.test("deno task sdp frag: the SDP's ICE credentials, its first m-line and one candidate", () => {
  const frag = parseSdpFrag(fragFor(obs));
  const ufrag = /a=ice-ufrag:(\S+)/.exec(obs)![1];
  assert.equal(frag.iceUfrag, ufrag);
  assert.equal(frag.media.length, 1);
  assert.equal(frag.media[0].mid, /a=mid:(\S+)/.exec(obs)![1]);
  assert.deepEqual(frag.media[0].candidates, [
    "candidate:1 1 udp 2113937151 192.0.2.10 50000 typ host",
  ]);
  assert.ok(frag.media[0].endOfCandidates);
  assert.ok(fragFor(obs).endsWith("\r\n"), "CRLF lines");
});

Deno.test("deno task sdp answer: recvonly, setup:active, new credentials, no candidates", () => {
  const offer = obs.replaceAll("a=sendonly", "a=sendrecv").replace(
    /a=setup:\w+/g,
    "a=setup:actpass",
  );
  const answer = answerFor(offer);
  assert.doesNotMatch(answer, /a=sendrecv|a=sendonly|a=candidate|a=setup:actpass/);
  assert.match(answer, /^a=recvonly\r$/m);
  assert.match(answer, /^a=setup:active\r$/m);
  const ufrag = /a=ice-ufrag:(\S+)/.exec(answer)![1];
  assert.notEqual(ufrag, /a=ice-ufrag:(\S+)/.exec(obs)![1]);
  assert.equal(
    (answer.match(/^m=/gm) ?? []).length,
    (obs.match(/^m=/gm) ?? []).length,
    "one m-line per offered m-line",
  );
});

Deno.test("deno task sdp restart and mistakes", () => {
  const restart = parseSdpFrag(restartFrag());
  assert.ok(restart.iceUfrag && restart.icePwd && restart.icePwd.length >= 22);
  assert.deepEqual(run(["--help"], ""), { code: 0, out: USAGE, err: "" });
  assert.equal(run([], "").code, 2);
  assert.equal(run(["frobnicate"], "").code, 2);
  const empty = run(["answer"], "");
  assert.equal(empty.code, 2);
  assert.match(empty.err, /no SDP offer/);
  assert.match(run(["frag"], "v=0\r\n").err, /a=ice-ufrag/);
});
