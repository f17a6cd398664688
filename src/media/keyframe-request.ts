/**
 * Keyframe requests in incoming RTCP: a PLI (RFC 4585 §6.3.1) or a FIR (RFC 5104 §4.3.1) that
 * names a given media SSRC. Read from the transport's RTCP rather than from werift's routing to
 * a sender: werift routes payload-specific feedback by the packet's sender SSRC first, so the
 * PLI of a player that announces its own SSRCs in its offer (werift's offers do — a cluster
 * edge's pull among them) reaches a receiver and is lost.
 *
 * @module
 */
import { type RtcpPacket, RtcpPayloadSpecificFeedback } from "werift";

/** PLI's and FIR's feedback message types. */
const PLI = 1;
const FIR = 4;

/** True when `packet` is a PLI for `ssrc`, or a FIR with an entry for it. */
export function asksKeyframeOf(packet: RtcpPacket, ssrc: number): boolean {
  if (packet.type !== RtcpPayloadSpecificFeedback.type) return false;
  const feedback = (packet as RtcpPayloadSpecificFeedback).feedback as {
    count: number;
    mediaSsrc?: number;
    fir?: { ssrc: number }[];
  };
  if (feedback.count === PLI) return feedback.mediaSsrc === ssrc;
  if (feedback.count === FIR) {
    return feedback.mediaSsrc === ssrc || (feedback.fir ?? []).some((e) => e.ssrc === ssrc);
  }
  return false;
}
