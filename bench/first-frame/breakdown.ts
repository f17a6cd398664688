/**
 * The first-frame bench's arithmetic: one run's player marks and server trace lines (both
 * wall-clock ms) turned into ms from the player's start per step, and the quantiles.
 *
 * @module
 */
import type { TraceEvent } from "../../src/media/trace.ts";
import type { PlayerMarks } from "./page.ts";

/** The steps, in order: key and label. */
export const COLUMNS = [
  ["post", "player: POST sent"],
  ["answer", "server: answer ready (candidates gathered)"],
  ["answered", "player: 201 received"],
  ["stun", "server: first STUN check received"],
  ["nominate", "server: nominating check (USE-CANDIDATE) received"],
  ["ice", "server: ICE connected (pair selected)"],
  ["flight1", "server: DTLS flight 1 sent (ClientHello)"],
  ["flight4", "server: DTLS flight 4 received (ServerHello … Done)"],
  ["flight5", "server: DTLS flight 5 sent (Certificate … Finished)"],
  ["flight6", "server: DTLS flight 6 received (CCS, Finished)"],
  ["srtp", "server: DTLS connected, SRTP keys ready"],
  ["rtp", "server: first video RTP sent"],
  ["connected", "player: connectionState connected"],
  ["received", "player: first frame received (rVFC receiveTime)"],
  ["presented", "player: first frame presented (rVFC presentationTime)"],
  ["decoded", "player: first frame decoded (getStats framesDecoded > 0)"],
] as const;

/** One run: ms from the player's start per step (undefined: not seen). */
export type Row = Partial<Record<(typeof COLUMNS)[number][0], number>>;

/** The steps of one run. */
export function breakdown(marks: PlayerMarks, events: TraceEvent[]): Row {
  const at = (t?: number) => (t === undefined ? undefined : t - marks.start);
  const first = (f: (e: TraceEvent) => boolean) => at(events.find(f)?.t);
  const records = (e: TraceEvent) => (e.records as string[] | undefined) ?? [];
  return {
    post: at(marks.post),
    answer: first((e) => e.event === "answer.ready"),
    answered: at(marks.answered),
    stun: first((e) => e.event === "stun.check"),
    nominate: first((e) => e.event === "stun.check" && e.useCandidate === true),
    ice: first((e) => e.event === "ice.connected"),
    flight1: first((e) => e.event === "dtls.out" && records(e).includes("hs:1")),
    flight4: first((e) => e.event === "dtls.in" && records(e).includes("hs:2")),
    flight5: first((e) => e.event === "dtls.out" && records(e).includes("hs:11")),
    flight6: first((e) => e.event === "dtls.in" && records(e).includes("ccs")),
    srtp: first((e) => e.event === "dtls.connected"),
    rtp: first((e) => e.event === "rtp.first" && e.kind === "video"),
    connected: at(marks.connected),
    received: at(marks.received),
    presented: at(marks.presented),
    decoded: at(marks.decoded),
  };
}

/** The q-quantile of `values` (linear between neighbours). */
export function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const i = (s.length - 1) * q;
  const lo = Math.floor(i);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (i - lo);
}
