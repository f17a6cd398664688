import assert from "node:assert/strict";
import {
  CoreSpeedProbe,
  fastReference,
  SLOW_FACTOR,
  summarise,
} from "../../bench/ramp/core-speed.ts";

Deno.test("core speed: a window's slow share and median against the ramp's fast reference", async (t) => {
  await t.step("the reference is the 10th percentile, and needs ten samples", () => {
    assert.equal(fastReference([300, 300, 300]), undefined);
    const costs = [250, 255, 260, 262, 258, 251, 430, 440, 425, 435, 252, 256];
    assert.equal(fastReference(costs), 251);
  });
  await t.step("samples beyond SLOW_FACTOR × the reference are slow", () => {
    const fast = 250;
    const s = summarise([250, 260, 255, 250 * SLOW_FACTOR + 1, 430, 440], fast)!;
    assert.equal(s.samples, 6);
    assert.equal(s.slowPct, 50);
    assert.ok(s.medianRatio > 1.3 && s.medianRatio < 1.8, String(s.medianRatio));
    assert.equal(summarise([], fast), undefined);
  });
});

Deno.test("core speed: the probe process reports timed samples for a window", async () => {
  const probe = new CoreSpeedProbe("0");
  try {
    const from = Date.now();
    await new Promise((r) => setTimeout(r, 5000)); // start-up, 20 warm-up samples, then some
    const speed = probe.window(from, Date.now());
    assert.ok(speed, "no window: fewer than ten samples after the warm-up");
    assert.ok(speed.samples >= 5, `${speed.samples} samples`);
    assert.ok(speed.medianRatio >= 1 && speed.medianRatio < 10, String(speed.medianRatio));
  } finally {
    await probe.stop();
  }
});
