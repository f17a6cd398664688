/**
 * Simulcast answers (RFC 8853). werift 0.25 drops the offer's `a=rid` / `a=simulcast` from some
 * answers and writes `a=simulcast:recv q;h;f ` (trailing space) in others; OBS aborts when fewer layers are accepted than offered; Safari rejects a
 * malformed `a=simulcast`. The answer gets one `a=rid:<id> recv` per offered send rid and one
 * well-formed `a=simulcast:recv` line, in the offer's order.
 *
 * @module
 */
import type { ParsedSdp } from "./offer.ts";

/** Adds to `answer` the receive side of every simulcast section of `offer`. */
export function answerSimulcast(offer: ParsedSdp, answer: string): string {
  const wanted = offer.media.filter((m) => m.rids.some((r) => r.direction === "send"));
  if (wanted.length === 0) return answer;
  const eol = answer.includes("\r\n") ? "\r\n" : "\n";
  const trailing = answer.endsWith(eol);
  const sections = (trailing ? answer.slice(0, -eol.length) : answer).split(/\r?\n(?=m=)/);
  return sections.map((section) => {
    const mid = /^a=mid:(\S+)/m.exec(section)?.[1];
    const source = wanted.find((m) => m.mid !== undefined && m.mid === mid);
    if (!source) return section;
    const rids = source.rids.filter((r) => r.direction === "send").map((r) => r.id);
    // werift sometimes writes its own lines, with a trailing space Safari refuses: replace them.
    const kept = section.split(/\r?\n/).filter((l) => !/^a=(rid|simulcast):/.test(l));
    const added = [...rids.map((id) => `a=rid:${id} recv`), `a=simulcast:recv ${rids.join(";")}`];
    return [...kept, ...added].join(eol);
  }).join(eol) + (trailing ? eol : "");
}
