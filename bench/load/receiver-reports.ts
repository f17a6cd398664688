/**
 * The load players' RTCP receiver reports, from one timer per process.
 *
 * werift runs a loop per receiver (`RTCRtpReceiver.runRtcp`, started by its first RTP): every
 * 0.5–1.5 s it makes a promise timer with an abort signal, builds a receiver report of that
 * receiver's streams and sends it. Two receivers per player, 400 players: 800 timers a second
 * in the players' processes, ≈ 10 % of the load core's busy time in a `perf` profile at 400
 * players (bench/README.md). Here each player's loop is switched off and one 20 ms timer per
 * process sends, for every player that is due, **one** receiver report carrying a report block
 * per stream of both receivers (audio and video), as a browser does on a bundled transport; the
 * block contents are werift's (the same statistics, LSR and DLSR), so the server sees the same
 * reports, at the same average interval (1 s, uniformly 0.5–1.5 s apart, RFC 3550 §6.2's
 * randomisation).
 *
 * @module
 */
import { RtcpReceiverInfo, RtcpRrPacket } from "werift";

/** The fields of a werift receiver that a report is made of. */
interface ReportingReceiver {
  rtcpSsrc: number;
  remoteStreams: Record<
    number,
    { fraction_lost: number; packets_lost: number; max_seq: number; jitter: number }
  >;
  lastSRtimestamp: Record<number, number>;
  receiveLastSRTimestamp: Record<number, number>;
  runRtcp(): Promise<void>;
}

/** Switches off werift's own report loop of `receiver` (before its first RTP). */
export function silenceReceiverLoop(receiver: object): void {
  (receiver as ReportingReceiver).runRtcp = () => Promise.resolve();
}

/**
 * One receiver report with a block per stream of `receivers` (sender SSRC: the first
 * receiver's), or undefined before any stream has been seen.
 */
export function receiverReport(receivers: object[]): RtcpRrPacket | undefined {
  const list = receivers as ReportingReceiver[];
  const nowSeconds = Date.now() / 1000;
  const reports: RtcpReceiverInfo[] = [];
  for (const r of list) {
    for (const key in r.remoteStreams) {
      const ssrc = Number(key);
      const stream = r.remoteStreams[ssrc];
      let lsr = 0;
      let dlsr = 0;
      if (r.lastSRtimestamp[ssrc]) {
        lsr = r.lastSRtimestamp[ssrc];
        const delay = nowSeconds - r.receiveLastSRTimestamp[ssrc];
        if (delay > 0 && delay < 65536) dlsr = Math.trunc(delay * 65536);
      }
      reports.push(
        new RtcpReceiverInfo({
          ssrc,
          fractionLost: stream.fraction_lost,
          packetsLost: stream.packets_lost,
          highestSequence: stream.max_seq,
          jitter: stream.jitter,
          lsr,
          dlsr,
        }),
      );
    }
  }
  if (reports.length === 0) return undefined;
  return new RtcpRrPacket({ ssrc: list[0].rtcpSsrc, reports });
}

/** Something that sends its receiver report when told to. */
export interface Reporter {
  /** Sends one receiver report now. */
  report(): void;
}

/** Tells each of its reporters to report, once every 0.5–1.5 s, from one timer. */
export class ReportClock {
  readonly #due = new Map<Reporter, number>();
  #timer?: ReturnType<typeof setInterval>;
  readonly #tickMs: number;

  /** A clock that looks for due reporters every `tickMs`. */
  constructor(tickMs = 20) {
    this.#tickMs = tickMs;
  }

  /** Starts reporting for `reporter` (its first report in 0.5–1.5 s). */
  add(reporter: Reporter): void {
    this.#due.set(reporter, performance.now() + nextInterval());
    this.#timer ??= setInterval(() => this.#tick(), this.#tickMs);
  }

  /** Stops reporting for `reporter`. */
  remove(reporter: Reporter): void {
    this.#due.delete(reporter);
    if (this.#due.size === 0) this.stop();
  }

  /** Stops the timer (reporters added later start it again). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = performance.now();
    for (const [reporter, due] of this.#due) {
      if (due > now) continue;
      this.#due.set(reporter, now + nextInterval());
      try {
        reporter.report();
      } catch {
        // a report that cannot be built or sent is skipped, as werift's loop does
      }
    }
  }
}

/** werift's interval: uniformly 0.5–1.5 s. */
function nextInterval(): number {
  return 500 + Math.random() * 1000;
}
