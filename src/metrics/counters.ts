/**
 * Process-wide counters and histograms in Prometheus text format, small enough to write:
 * `prom-client` pulls Node-only collectors that do not run cleanly under Deno, and these are a
 * handful of numbers incremented on the media path (a property add, no allocation).
 *
 * @module
 */

/** A monotonically increasing count, optionally split by one label. */
export class Counter {
  // a cell per series: adding to a number field updates it in place, while a Map value above
  // 2^30 would be a new heap number on every add (the media path adds per packet)
  #values = new Map<string, { n: number }>();

  /** @param name metric name; @param help its HELP text; @param label the label's name. */
  constructor(readonly name: string, readonly help: string, readonly label?: string) {}

  /** Adds `n` (default 1) to the series `labelValue`. */
  inc(labelValue = "", n = 1): void {
    const cell = this.#values.get(labelValue);
    if (cell) cell.n += n;
    else this.#values.set(labelValue, { n });
  }

  /**
   * The series `labelValue` as a cell to add to directly (`cell.n += k`): no lookup per add,
   * for the media path's per-packet counts.
   */
  cell(labelValue = ""): { n: number } {
    let cell = this.#values.get(labelValue);
    if (!cell) this.#values.set(labelValue, cell = { n: 0 });
    return cell;
  }

  /** The current value of a series. */
  get(labelValue = ""): number {
    return this.#values.get(labelValue)?.n ?? 0;
  }

  /** Prometheus text lines. */
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.#values.size === 0 && !this.label) lines.push(`${this.name} 0`);
    for (const [value, { n }] of this.#values) {
      lines.push(this.label ? `${this.name}{${this.label}="${value}"} ${n}` : `${this.name} ${n}`);
    }
    return lines;
  }
}

/** A histogram of durations in seconds with fixed buckets. */
export class Histogram {
  #counts: number[];
  #sum = 0;
  #count = 0;

  /** @param buckets upper bounds in seconds, ascending. */
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.#counts = new Array(buckets.length + 1).fill(0);
  }

  /** Records one observation, in seconds. */
  observe(seconds: number): void {
    let i = this.buckets.findIndex((b) => seconds <= b);
    if (i < 0) i = this.buckets.length;
    this.#counts[i]++;
    this.#sum += seconds;
    this.#count++;
  }

  /** Number of observations. */
  get count(): number {
    return this.#count;
  }

  /** Prometheus text lines (cumulative buckets, `_sum`, `_count`). */
  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    let cumulative = 0;
    this.buckets.forEach((b, i) => {
      cumulative += this.#counts[i];
      lines.push(`${this.name}_bucket{le="${b}"} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
    return lines;
  }
}

const LATENCY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The server's metrics. */
export const metrics = {
  packetsIn: new Counter(
    "sfu_rtp_packets_received_total",
    "RTP packets received from publishers.",
    "kind",
  ),
  bytesIn: new Counter(
    "sfu_rtp_bytes_received_total",
    "RTP payload bytes received from publishers.",
    "kind",
  ),
  packetsOut: new Counter("sfu_rtp_packets_sent_total", "RTP packets sent to players.", "kind"),
  bytesOut: new Counter("sfu_rtp_bytes_sent_total", "RTP payload bytes sent to players.", "kind"),
  egressPackets: new Counter(
    "sfu_egress_packets_total",
    "RTP packets sent to players, by path (native: OpenSSL + sendmmsg; native-srtp: OpenSSL, then werift's ICE connection; werift: its sender).",
    "path",
  ),
  egressSends: new Counter(
    "sfu_egress_send_calls_total",
    "System calls of the native path's RTP sends (sendmmsg: every player's runs of a flush, up to 128 datagrams a call; sendmsg: retransmissions, reports, a refused run).",
  ),
  egressDropped: new Counter(
    "sfu_egress_dropped_total",
    "RTP packets the native path could not send (no ICE consent, socket buffer full).",
  ),
  senderReports: new Counter(
    "sfu_sender_reports_total",
    "RTCP sender reports of the native path: sent, unsent (no ICE consent, socket gone) or error (an exception; the stream's reports stop).",
    "result",
  ),
  nacksReceived: new Counter("sfu_nacks_received_total", "NACK messages received from players."),
  retransmissions: new Counter("sfu_retransmissions_total", "Packets resent from the history."),
  plisReceived: new Counter("sfu_keyframe_requests_received_total", "PLI/FIR from players."),
  plisSent: new Counter("sfu_keyframe_requests_sent_total", "PLIs sent to publishers."),
  keyframeCache: new Counter(
    "sfu_keyframe_cache_lookups_total",
    "Player starts served from the keyframe cache (hit) or waiting for a keyframe (miss).",
    "result",
  ),
  replaysCut: new Counter(
    "sfu_keyframe_replays_cut_total",
    "Keyframe-cache replays cut short because they fell behind: the next keyframe came live first (keyframe), or too many live packets waited behind one (behind).",
    "reason",
  ),
  sessionsEnded: new Counter("sfu_sessions_ended_total", "Sessions ended, by reason.", "reason"),
  postSeconds: new Histogram(
    "sfu_post_duration_seconds",
    "WHIP/WHEP POST to 201 (answer with every candidate).",
    LATENCY,
  ),
  joinSeconds: new Histogram(
    "sfu_player_join_seconds",
    "WHEP session created to its first media packet sent.",
    LATENCY,
  ),
};
