/**
 * RTCP sender reports of the native egress path (RFC 3550 §6.4.1), written into a reused
 * buffer and scheduled by one timer per server ({@link ReportSchedule}, owned by the egress
 * scheduler).
 *
 * werift's sender runs a loop per sender — a `node:timers/promises` timeout with an abort signal,
 * packet objects, `Buffer.concat`s and an asynchronous `node:dgram` send for every report — and
 * with two senders per player that measured ≈ 10 % of a core at 250 players (bench/README.md).
 * Here a report is 28 bytes of SR and an SDES chunk written in place; the timer walks the due
 * reports every {@link REPORT_TICK_MS}.
 *
 * @module
 */
import { metrics } from "../metrics/counters.ts";

/** How often the timer looks for due reports, ms. */
export const REPORT_TICK_MS = 50;
/** Shortest interval between two reports of one stream, ms (werift: 0.5 to 1.5 s). */
export const REPORT_INTERVAL_MIN_MS = 500;
/** Spread of the interval above the minimum, ms (RFC 3550 §6.3.1 randomises it). */
export const REPORT_INTERVAL_SPREAD_MS = 1000;
/** Seconds between the NTP epoch (1900) and the Unix epoch. */
const NTP_UNIX_OFFSET = 2_208_988_800;
const TWO_32 = 0x1_0000_0000;

/** What one sender report says. */
export interface SenderReport {
  /** SSRC of the sender. */
  ssrc: number;
  /** NTP time the RTP timestamp corresponds to ({@link ntpOfWallClock}). */
  ntp: { seconds: number; fraction: number };
  /** RTP timestamp of that instant. */
  rtpTimestamp: number;
  /** Packets sent so far (mod 2^32). */
  packetCount: number;
  /** Payload octets sent so far (mod 2^32). */
  octetCount: number;
  /** CNAME for the SDES chunk that follows the SR (none without it). */
  cname?: Uint8Array;
}

/** The 64-bit NTP timestamp of `wallClockMs` as two 32-bit halves. */
export function ntpOfWallClock(wallClockMs: number): { seconds: number; fraction: number } {
  const unix = wallClockMs / 1000;
  const whole = Math.floor(unix);
  return {
    seconds: (whole + NTP_UNIX_OFFSET) % TWO_32,
    fraction: Math.min(TWO_32 - 1, Math.floor((unix - whole) * TWO_32)),
  };
}

/**
 * Writes a compound RTCP packet — the SR (no report blocks: the server receives nothing on this
 * connection) and, with a CNAME, an SDES chunk with it — into `out` (room for 36 + 4 + the
 * CNAME's length bytes); returns its length. The chunk's item list ends with one to four null
 * octets up to a 32-bit boundary (RFC 3550 §6.5).
 */
export function writeSenderReport(out: Uint8Array, report: SenderReport): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const { seconds, fraction } = report.ntp;
  view.setUint8(0, 0x80); // V=2, P=0, RC=0
  view.setUint8(1, 200);
  view.setUint16(2, 6); // 28 bytes: 7 words − 1
  view.setUint32(4, report.ssrc >>> 0);
  view.setUint32(8, seconds >>> 0);
  view.setUint32(12, fraction >>> 0);
  view.setUint32(16, report.rtpTimestamp >>> 0);
  view.setUint32(20, report.packetCount >>> 0);
  view.setUint32(24, report.octetCount % TWO_32);
  const cname = report.cname;
  if (!cname || cname.length === 0) return 28;
  const text = Math.min(cname.length, 255);
  // ssrc, CNAME item (type, length, text), then the null octets
  const chunk = 4 + 2 + text;
  const padded = chunk + 4 - (chunk % 4);
  view.setUint8(28, 0x81); // V=2, P=0, SC=1
  view.setUint8(29, 202);
  view.setUint16(30, padded / 4);
  view.setUint32(32, report.ssrc >>> 0);
  view.setUint8(36, 1); // CNAME
  view.setUint8(37, text);
  out.set(cname.subarray(0, text), 38);
  out.fill(0, 32 + chunk, 32 + padded);
  return 32 + padded;
}

/** The middle 32 bits of an NTP timestamp (RFC 3550 §6.4.1 LSR). */
export function compactNtp(seconds: number, fraction: number): number {
  return (((seconds & 0xffff) << 16) | (fraction >>> 16)) >>> 0;
}

/** Something that sends a report when due. */
export interface ReportTask {
  /** Sends a report at `now` (`performance.now()`); false when it will send no more. */
  report(now: number): boolean;
}

/** `sfu_sender_reports_total`, by result. */
export const REPORTS = {
  sent: metrics.senderReports.cell("sent"),
  unsent: metrics.senderReports.cell("unsent"),
  error: metrics.senderReports.cell("error"),
};

interface Entry {
  task: ReportTask;
  due: number;
}

/** The reports of every stream of one server, walked by one timer while any is scheduled. */
export class ReportSchedule {
  readonly #entries: Entry[] = [];
  #timer?: ReturnType<typeof setInterval>;
  readonly #tick = () => this.#run();

  /**
   * Reports for `task` from 0.5–1.5 s from now, then every 0.5–1.5 s, until it returns false or
   * the returned function is called.
   */
  schedule(task: ReportTask): () => void {
    const entry: Entry = { task, due: performance.now() + nextInterval() };
    this.#entries.push(entry);
    this.#timer ??= setInterval(this.#tick, REPORT_TICK_MS);
    return () => this.#remove(entry);
  }

  /** Tasks with reports scheduled. */
  get size(): number {
    return this.#entries.length;
  }

  /** Drops every task and stops the timer. */
  close(): void {
    this.#entries.length = 0;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #run(): void {
    const now = performance.now();
    const entries = this.#entries;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      if (entry.due > now) continue;
      let more = false;
      try {
        more = entry.task.report(now);
      } catch {
        REPORTS.error.n++; // counted, and that stream's reports stop; the others go on
        more = false;
      }
      if (more) entry.due = now + nextInterval();
      else if (this.#remove(entry)) i--; // the last entry moved into slot i
    }
  }

  #remove(entry: Entry): boolean {
    const entries = this.#entries;
    const i = entries.indexOf(entry);
    if (i < 0) return false;
    entries[i] = entries[entries.length - 1];
    entries.pop();
    if (entries.length === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    return true;
  }
}

function nextInterval(): number {
  return REPORT_INTERVAL_MIN_MS + Math.random() * REPORT_INTERVAL_SPREAD_MS;
}
