import assert from "node:assert/strict";
import { LoopLagSampler, OVERLOAD_WINDOW_MS, overloadProbe } from "../../src/metrics/loop-lag.ts";

Deno.test("loop lag: recentLag is a quantile of the samples inside the window only", () => {
  const s = new LoopLagSampler();
  assert.equal(s.recentLag(2000, 0.9, 10_000), 0, "no samples");
  for (let i = 1; i <= 10; i++) s.record(i * 10, 10_000 + i); // 10..100 ms
  assert.equal(s.recentLag(2000, 0.9, 10_011), 90);
  assert.equal(s.recentLag(2000, 0.5, 10_011), 50);
  assert.equal(s.recentLag(2000, 1, 10_011), 100);
  assert.equal(s.recentLag(2000, 0.9, 12_005), 100, "only the samples of the last 2 s");
  assert.equal(s.recentLag(2000, 0.9, 13_000), 0, "all outside");
});

Deno.test("loop lag: the ring keeps the newest samples", () => {
  const s = new LoopLagSampler();
  for (let i = 0; i < 1000; i++) s.record(i < 900 ? 500 : 1, 1000 + i);
  assert.equal(s.recentLag(10_000, 1, 2000), 500, "older samples still in the ring");
  assert.equal(s.recentLag(99, 1, 1999), 1, "the last 100 samples are 1 ms");
});

Deno.test("loop lag: overloadProbe answers the lag p90 above its limit, and nothing at 0", () => {
  const s = new LoopLagSampler();
  const now = performance.now();
  for (let i = 0; i < 20; i++) s.record(i < 18 ? 5 : 400, now - i); // p90 of 20: the 18th, 5 ms
  assert.equal(overloadProbe(100, s)(), undefined, "two late turns in twenty");
  for (let i = 0; i < 20; i++) s.record(300, now - 100 - i);
  assert.equal(overloadProbe(100, s)(), 300);
  assert.equal(overloadProbe(300, s)(), undefined, "not above its limit");
  assert.equal(overloadProbe(0, s)(), undefined, "0: never");
  assert.ok(OVERLOAD_WINDOW_MS >= 1000);
});
