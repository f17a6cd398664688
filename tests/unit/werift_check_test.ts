/**
 * The start-up check of werift (src/media/werift/check.ts): the installed werift passes, and a
 * werift whose patched or read member is missing — a prototype member deleted here, restored
 * after — stops the start with a ConfigError naming it.
 */
import assert from "node:assert/strict";
import { Connection, RTCRtpSender, UdpTransport } from "werift";
import { assertWerift, weriftMismatches } from "../../src/media/werift/check.ts";
import { ConfigError } from "../../src/config.ts";

/** Runs `fn` with `proto[name]` deleted, then puts it back. */
function without(proto: object, name: string, fn: () => void): void {
  const descriptor = Object.getOwnPropertyDescriptor(proto, name);
  assert.ok(descriptor, `${name} is an own member of the prototype`);
  delete (proto as Record<string, unknown>)[name];
  try {
    fn();
  } finally {
    Object.defineProperty(proto, name, descriptor);
  }
}

Deno.test("the installed werift is the one the patches expect", () => {
  assert.deepEqual(weriftMismatches(), []);
  assertWerift();
});

Deno.test("a missing patched prototype member stops the start, named", () => {
  without(Connection.prototype, "applyStunTurnServersFromOptions", () => {
    assert.throws(() => assertWerift(), (error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(
        error.message,
        /Connection\.prototype\.applyStunTurnServersFromOptions is missing/,
      );
      assert.ok(!error.message.includes("\n"), "one sentence");
      return true;
    });
  });
  without(UdpTransport.prototype, "init", () => {
    assert.deepEqual(weriftMismatches(), ["UdpTransport.prototype.init is missing"]);
  });
  assert.deepEqual(weriftMismatches(), []);
});

Deno.test("a missing overridden sender method is named too", () => {
  without(RTCRtpSender.prototype, "handleRtcpPacket", () => {
    const problems = weriftMismatches();
    assert.ok(
      problems.includes("RTCRtpSender.prototype.handleRtcpPacket is missing"),
      String(problems),
    );
  });
});

Deno.test("another werift version in deno.json is named", () => {
  assert.deepEqual(weriftMismatches("npm:werift@0.26.0"), [
    "deno.json asks for npm:werift@0.26.0, not npm:werift@0.25.2",
  ]);
});
