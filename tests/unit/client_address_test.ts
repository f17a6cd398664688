/**
 * The client address behind trusted proxies (RFC 7239 `Forwarded`, `X-Forwarded-For`), the keys
 * the per-address limits count under, and the configuration of proxies, budgets and the clock.
 */
import assert from "node:assert/strict";
import {
  AddressSet,
  clientAddress,
  forwardedHops,
  limitKey,
  normalizeIp,
} from "../../src/http/client-address.ts";
import { loadConfig } from "../../src/config.ts";

const SECRET = "unit-test-secret-that-is-long-enough-0123456789";
const config = (env: Record<string, string>) =>
  loadConfig((n) => ({ JWT_SECRET: SECRET, ...env })[n]);

Deno.test("addresses: IPv4, IPv6, IPv4-mapped, canonical text", () => {
  const cases: [string, string | undefined][] = [
    ["127.0.0.1", "127.0.0.1"],
    ["::1", "::1"],
    ["::", "::"],
    ["2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8::0:1", "2001:db8::1"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["fe80::1%eth0", "fe80::1"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"],
    ["01.2.3.4", undefined],
    ["1.2.3.256", undefined],
    ["1::2::3", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["unknown", undefined],
    ["_hidden", undefined],
    ["", undefined],
  ];
  for (const [text, canonical] of cases) assert.equal(normalizeIp(text), canonical, text);
});

Deno.test("limit keys: an IPv4 address, an IPv6 /64", () => {
  assert.equal(limitKey("192.0.2.7"), "192.0.2.7");
  assert.equal(limitKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(limitKey("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
  assert.equal(limitKey("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(limitKey("unknown"), "unknown");
});

Deno.test("address sets: addresses and CIDR blocks, IPv4 and IPv6", () => {
  const set = new AddressSet(["10.0.0.0/8", "192.0.2.1", "fd00::/8", "::1", "172.16.0.0/12"]);
  for (
    const yes of ["10.255.0.1", "192.0.2.1", "fd12:3456::1", "::1", "::ffff:10.1.1.1", "172.31.9.9"]
  ) {
    assert.ok(set.has(yes), yes);
  }
  for (const no of ["11.0.0.1", "192.0.2.2", "fe80::1", "::2", "172.32.0.1", "garbage"]) {
    assert.ok(!set.has(no), no);
  }
  assert.ok(new AddressSet([]).empty);
  assert.ok(new AddressSet(["0.0.0.0/0"]).has("203.0.113.9"));
  assert.ok(!new AddressSet(["0.0.0.0/0"]).has("2001:db8::1"));
  for (const bad of ["10.0.0.0/33", "nonsense", "::/129", "10.0.0.1/8/8"]) {
    assert.throws(() => new AddressSet([bad]), /not an IP address or CIDR block/, bad);
  }
});

Deno.test("forwarding headers: hops left to right", () => {
  assert.deepEqual(
    forwardedHops(
      new Headers({
        Forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711", ' +
          'for=unknown, for="_gazonk", by=10.0.0.1, for="198.51.100.2:8080"',
      }),
    ),
    ["192.0.2.60", "2001:db8:cafe::17", "unknown", "_gazonk", "unknown", "198.51.100.2"],
  );
  assert.deepEqual(
    forwardedHops(new Headers({ "X-Forwarded-For": "203.0.113.1, [2001:db8::5]:99,10.0.0.2" })),
    ["203.0.113.1", "2001:db8::5", "10.0.0.2"],
  );
  // Forwarded, the standard, is read when both are present.
  assert.deepEqual(
    forwardedHops(new Headers({ Forwarded: "for=192.0.2.1", "X-Forwarded-For": "192.0.2.2" })),
    ["192.0.2.1"],
  );
  assert.deepEqual(forwardedHops(new Headers()), []);
});

Deno.test("the client address: the right-most untrusted hop, only behind a trusted proxy", () => {
  const trusted = new AddressSet(["127.0.0.1", "10.0.0.0/8"]);
  const xff = (value: string) => new Headers({ "X-Forwarded-For": value });
  const none = new AddressSet([]);
  assert.equal(clientAddress("192.0.2.9", xff("6.6.6.6"), none), "192.0.2.9");
  assert.equal(clientAddress("::ffff:192.0.2.9", new Headers(), none), "192.0.2.9");
  assert.equal(clientAddress("192.0.2.9", xff("6.6.6.6"), trusted), "192.0.2.9", "untrusted peer");
  assert.equal(clientAddress("127.0.0.1", xff("6.6.6.6, 192.0.2.9"), trusted), "192.0.2.9");
  assert.equal(
    clientAddress("127.0.0.1", xff("6.6.6.6, 192.0.2.9, 10.0.0.7"), trusted),
    "192.0.2.9",
  );
  assert.equal(
    clientAddress("127.0.0.1", xff("10.0.0.8, 10.0.0.7"), trusted),
    "10.0.0.8",
    "all trusted",
  );
  assert.equal(clientAddress("127.0.0.1", new Headers(), trusted), "127.0.0.1", "no header");
  assert.equal(
    clientAddress("127.0.0.1", new Headers({ Forwarded: "for=unknown, for=10.0.0.3" }), trusted),
    "10.0.0.3",
    "an unknown hop: the trusted proxy that reported it",
  );
  assert.equal(
    clientAddress("127.0.0.1", new Headers({ Forwarded: 'for="[2001:DB8::1]:80"' }), trusted),
    "2001:db8::1",
  );
});

Deno.test("configuration: TRUSTED_PROXIES, JWT_CLOCK_TOLERANCE and the new limits", () => {
  const defaults = config({});
  assert.deepEqual(defaults.trustedProxies, []);
  assert.equal(defaults.jwtClockTolerance, 30);
  assert.equal(defaults.rateLimitFailed, 60);
  assert.equal(defaults.maxIdentitySessions, 64);
  const set = config({
    TRUSTED_PROXIES: "10.0.0.0/8, 192.0.2.1,fd00::/8 ,::1",
    JWT_CLOCK_TOLERANCE: "2m",
    RATE_LIMIT_FAILED: "30",
    MAX_IDENTITY_SESSIONS: "8",
  });
  assert.deepEqual(set.trustedProxies, ["10.0.0.0/8", "192.0.2.1", "fd00::/8", "::1"]);
  assert.equal(set.jwtClockTolerance, 120);
  assert.equal(config({ JWT_CLOCK_TOLERANCE: "0" }).jwtClockTolerance, 0);
  assert.equal(config({ JWT_CLOCK_TOLERANCE: "45" }).jwtClockTolerance, 45);
  assert.equal(set.rateLimitFailed, 30);
  assert.equal(set.maxIdentitySessions, 8);
  for (
    const [name, value] of [
      ["TRUSTED_PROXIES", "10.0.0.0/33"],
      ["TRUSTED_PROXIES", "proxy.example"],
      ["JWT_CLOCK_TOLERANCE", "soon"],
      ["JWT_CLOCK_TOLERANCE", "1h"],
      ["RATE_LIMIT_FAILED", "0"],
      ["MAX_IDENTITY_SESSIONS", "0"],
    ]
  ) {
    assert.throws(() => config({ [name]: value }), new RegExp(`${name}:`), `${name}=${value}`);
  }
});
