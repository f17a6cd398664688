/**
 * The sweeper's clock (src/rooms/live-clock.ts): the event loop's stalls are not silence, a loop
 * that is only slow still counts its time.
 */
import assert from "node:assert/strict";
import { LiveClock, TICK_SLACK_MS } from "../../src/rooms/live-clock.ts";

Deno.test("live clock", async (t) => {
  await t.step("on-time ticks: silence is real time", () => {
    const clock = new LiveClock(1000, 0);
    for (let now = 1000; now <= 10_000; now += 1000) assert.equal(clock.tick(now), 0);
    assert.equal(clock.silentFor(2500, 10_000), 7500);
  });

  await t.step("a stall before the last datagram heard is not counted, after it is", () => {
    const clock = new LiveClock(1000, 0);
    clock.tick(1000);
    clock.tick(2000);
    // the loop stops from 2,000 to 14,000: the tick due at 3,000 comes at 14,000
    assert.equal(clock.tick(14_000), 11_000 - TICK_SLACK_MS);
    // heard at 1,500 (before the stall): 12.5 s of real time, 1.75 s of it with the loop running
    assert.equal(clock.silentFor(1500, 14_000), 1500 + TICK_SLACK_MS);
    // heard after the stall: real time
    clock.tick(15_000);
    assert.equal(clock.silentFor(14_500, 16_000), 1500);
  });

  await t.step(
    "a slow loop (every tick late by more than the slack) still counts most of it",
    () => {
      const clock = new LiveClock(1000, 0);
      let now = 0;
      for (let i = 0; i < 20; i++) clock.tick(now += 1000 + TICK_SLACK_MS + 50);
      // 20 ticks of 1.3 s: 26 s of real time, 1 s of it stalls
      assert.equal(clock.silentFor(0, now), now - 20 * 50);
      assert.ok(clock.silentFor(0, now) > 0.9 * now);
    },
  );

  await t.step("stalls beyond what is kept count as silence again (never longer)", () => {
    const clock = new LiveClock(1000, 0);
    let now = 0;
    for (let i = 0; i < 100; i++) clock.tick(now += 2000 + TICK_SLACK_MS); // 1 s stall each
    // heard before every stall: only the 64 stalls kept are taken off
    assert.equal(clock.silentFor(0, now), now - 64 * 1000);
  });
});
