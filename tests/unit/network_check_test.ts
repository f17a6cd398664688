/** The start-up network check: the candidates it lists and when it warns. */
import assert from "node:assert/strict";
import { checkNetwork, isPublicIpv4, type NetworkFacts } from "../../src/network-check.ts";

const base: NetworkFacts = {
  addresses: ["192.168.1.20"],
  udp: { port: 8189 },
  tcpPort: 8189,
  announcedIps: [],
  stunUrls: [],
  reflexive: [],
  turn: false,
};

Deno.test("public and private IPv4 addresses", () => {
  for (const a of ["10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.1", "127.0.0.1"]) {
    assert.equal(isPublicIpv4(a), false, a);
  }
  for (const a of ["100.64.0.1", "169.254.1.1", "192.0.2.2", "198.18.0.1"]) {
    assert.equal(isPublicIpv4(a), false, a);
  }
  for (const a of ["8.8.8.8", "172.32.0.1", "100.128.0.1", "203.0.114.1"]) {
    assert.equal(isPublicIpv4(a), true, a);
  }
  assert.equal(isPublicIpv4("not an address"), false);
});

Deno.test("network check: candidates listed per transport; a LAN-only setup is warned about in words", () => {
  const report = checkNetwork(base);
  assert.deepEqual(report.candidates, [
    "udp 192.168.1.20:8189 host",
    "tcp 192.168.1.20:8189 host (passive)",
  ]);
  assert.equal(report.warnings.length, 1);
  assert.match(report.warnings[0], /private, loopback or reserved/);
  assert.match(report.warnings[0], /ANNOUNCED_IPS/);
  assert.match(report.warnings[0], /UDP 8189 and TCP 8189/);
});

Deno.test("network check: no warning with a public announced address, a public interface or a STUN answer", () => {
  const announced = checkNetwork({ ...base, announcedIps: ["203.0.114.7"] });
  assert.deepEqual(announced.warnings, []);
  assert.deepEqual(announced.candidates, [
    "udp 203.0.114.7:8189 host",
    "tcp 203.0.114.7:8189 host (passive)",
  ]);
  assert.deepEqual(checkNetwork({ ...base, addresses: ["8.8.4.4"] }).warnings, []);
  const stun = checkNetwork({
    ...base,
    stunUrls: ["stun:stun.example:3478"],
    reflexive: [{ local: "192.168.1.20", mapped: ["203.0.114.9", 40000] }],
  });
  assert.deepEqual(stun.warnings, []);
  assert.ok(stun.candidates.includes("udp 203.0.114.9:40000 srflx (STUN, for 192.168.1.20)"));
});

Deno.test("network check: a STUN server that did not answer is named; per-session ranges are listed as ranges", () => {
  const silent = checkNetwork({ ...base, stunUrls: ["stun:stun.example:3478"] });
  assert.match(silent.warnings[0], /the STUN server stun:stun\.example:3478 did not answer/);
  const range = checkNetwork({ ...base, udp: { range: [40000, 40099] }, tcpPort: undefined });
  assert.deepEqual(range.candidates, ["udp 192.168.1.20:40000-40099 host (a port per session)"]);
  const tcpOnly = checkNetwork({ ...base, udp: undefined, stunUrls: ["stun:s:3478"] });
  assert.ok(tcpOnly.warnings.some((w) => /ICE_TRANSPORTS=tcp/.test(w)));
});

Deno.test("network check: a shared port whose kernel receive buffer was capped is warned about", () => {
  const capped = checkNetwork({ ...base, announcedIps: ["203.0.114.7"], receiveBuffer: 212_992 });
  assert.equal(capped.warnings.length, 1);
  assert.match(capped.warnings[0], /receive buffer is 208 KiB, not the 8192 KiB asked/);
  assert.match(capped.warnings[0], /sysctl -w net\.core\.rmem_max=8388608/);
  const granted = checkNetwork({
    ...base,
    announcedIps: ["203.0.114.7"],
    receiveBuffer: 8 * 1024 * 1024,
  });
  assert.deepEqual(granted.warnings, []);
});
