import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { RtcpPacketConverter, RtcpSourceDescriptionPacket, RtcpSrPacket } from "werift";
import {
  compactNtp,
  ntpOfWallClock,
  REPORT_INTERVAL_MIN_MS,
  REPORT_INTERVAL_SPREAD_MS,
  ReportSchedule,
  writeSenderReport,
} from "../../src/media/sender-reports.ts";

Deno.test("sender reports: RFC 3550 SR + SDES that werift reads back", async (t) => {
  const wallClockMs = Date.UTC(2026, 10, 24, 6, 30, 0, 250);
  const report = {
    ssrc: 0xdeadbeef,
    ntp: ntpOfWallClock(wallClockMs),
    rtpTimestamp: 0xfffffff0,
    packetCount: 123_456,
    octetCount: 2 ** 32 + 77, // wraps (mod 2^32)
  };

  await t.step("NTP time: seconds since 1900 and a 32-bit fraction", () => {
    assert.deepEqual(ntpOfWallClock(0), { seconds: 2_208_988_800, fraction: 0 });
    assert.deepEqual(ntpOfWallClock(1500), { seconds: 2_208_988_801, fraction: 2 ** 31 });
    const { seconds, fraction } = ntpOfWallClock(wallClockMs);
    assert.equal(fraction, 2 ** 30); // .25 s
    assert.equal(compactNtp(seconds, fraction), (((seconds & 0xffff) << 16) | 0x4000) >>> 0);
  });

  await t.step("an SR alone is 28 bytes and carries every field", () => {
    const out = Buffer.alloc(300);
    const length = writeSenderReport(out, report);
    assert.equal(length, 28);
    const [sr] = RtcpPacketConverter.deSerialize(out.subarray(0, length)) as [RtcpSrPacket];
    assert.equal(sr.type, 200);
    assert.equal(sr.ssrc, report.ssrc);
    assert.equal(sr.reports.length, 0);
    const { seconds, fraction } = ntpOfWallClock(wallClockMs);
    assert.equal(BigInt(sr.senderInfo.ntpTimestamp), (BigInt(seconds) << 32n) | BigInt(fraction));
    assert.equal(sr.senderInfo.rtpTimestamp, report.rtpTimestamp);
    assert.equal(sr.senderInfo.packetCount, report.packetCount);
    assert.equal(sr.senderInfo.octetCount, 77);
  });

  await t.step("the SDES chunk ends with 1–4 null octets on a 32-bit boundary", () => {
    for (let n = 1; n <= 20; n++) {
      const cname = new TextEncoder().encode("c".repeat(n));
      const out = Buffer.alloc(300, 0xff); // stale bytes must not leak into the padding
      const length = writeSenderReport(out, { ...report, cname });
      assert.equal(length % 4, 0);
      const sdes = out.subarray(28, length);
      assert.equal(sdes.readUInt16BE(2), sdes.length / 4 - 1, "SDES length in words − 1");
      const nulls = sdes.length - (8 + 2 + n);
      assert.ok(nulls >= 1 && nulls <= 4, `cname of ${n}: ${nulls} null octets`);
      assert.ok(sdes.subarray(10 + n).every((b) => b === 0));
      const packets = RtcpPacketConverter.deSerialize(out.subarray(0, length));
      assert.equal(packets.length, 2);
      const chunk = (packets[1] as RtcpSourceDescriptionPacket).chunks[0];
      assert.equal(chunk.source, report.ssrc);
      assert.equal(chunk.items[0].type, 1);
      assert.equal(chunk.items[0].text, "c".repeat(n));
    }
  });
});

Deno.test("sender reports: one timer for every stream, gone with the last", async (t) => {
  const schedule = new ReportSchedule();
  const scheduleReports = schedule.schedule.bind(schedule);
  const scheduledReports = () => schedule.size;
  await t.step("a task reports every 0.5–1.5 s until it says it is done", async () => {
    const times: number[] = [];
    const start = performance.now();
    scheduleReports({
      report(now) {
        times.push(now - start);
        return times.length < 2;
      },
    });
    assert.equal(scheduledReports(), 1);
    const limit = 2 * (REPORT_INTERVAL_MIN_MS + REPORT_INTERVAL_SPREAD_MS) + 500;
    while (scheduledReports() > 0 && performance.now() - start < limit) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(times.length, 2);
    assert.ok(times[0] >= REPORT_INTERVAL_MIN_MS, `first after ${times[0]} ms`);
    const gap = times[1] - times[0];
    assert.ok(gap >= REPORT_INTERVAL_MIN_MS, `then after ${gap} ms`);
    assert.equal(scheduledReports(), 0, "done tasks leave (and the timer with them)");
  });

  await t.step("a cancelled or failing task leaves; the others go on", async () => {
    let calls = 0;
    const cancel = scheduleReports({
      report() {
        calls++;
        return true;
      },
    });
    let failed = 0;
    scheduleReports({
      report() {
        failed++;
        throw new Error("broken");
      },
    });
    let good = 0;
    const stop = scheduleReports({
      report() {
        good++;
        return true;
      },
    });
    cancel();
    assert.equal(scheduledReports(), 2);
    const start = performance.now();
    while (good < 2 && performance.now() - start < 4000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(calls, 0);
    assert.equal(failed, 1);
    assert.equal(good, 2);
    stop();
    assert.equal(scheduledReports(), 0);
  });
});
