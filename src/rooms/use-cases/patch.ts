/**
 * PATCH on a session: trickled candidates, an ICE restart, or the client's answer in
 * server-offer mode; the If-Match precondition of each.
 *
 * @module
 */
import { DomainError } from "../../errors.ts";
import type { Principal } from "../../auth/rights.ts";
import { parseSdp } from "../../sdp/offer.ts";
import { isUsableCandidate, type SdpFrag } from "../../sdp/sdpfrag.ts";
import type { IceParameters } from "../../sdp/candidates.ts";
import { newEtag, type Session } from "../../sessions/session.ts";
import type { RoomStore } from "../store.ts";
import { ownedSession } from "./membership.ts";

/** Result of a PATCH. */
export type Patched =
  | { kind: "trickle" }
  | { kind: "restart"; ice: IceParameters; etag: string; mid: string }
  | { kind: "answer" };

/**
 * The If-Match precondition: `ifMatch` (the raw header value) must be the session's ETag or
 * one of `wildcards`; 412 otherwise. Returns true for a wildcard.
 */
export function requireIfMatch(
  session: Session,
  ifMatch: string,
  wildcards: readonly string[],
): boolean {
  if (wildcards.includes(ifMatch)) return true;
  if (ifMatch !== session.etag) {
    throw new DomainError("precondition-failed", "If-Match does not match the session's ETag");
  }
  return false;
}

/**
 * PATCH with an sdpfrag: trickled candidates, or an ICE restart when the frag carries new
 * credentials or `If-Match: *` asked for one. `ifMatch` is the raw header value.
 */
export async function patchIce(
  store: RoomStore,
  who: Principal,
  id: string,
  ifMatch: string,
  frag: SdpFrag,
): Promise<Patched> {
  const session = ownedSession(store, who, id);
  const restartAsked = requireIfMatch(session, ifMatch, ["*", '"*"']);
  const peer = session.media.peer;
  const ufrag = frag.iceUfrag ?? frag.media.find((m) => m.iceUfrag)?.iceUfrag;
  const pwd = frag.icePwd ?? frag.media.find((m) => m.icePwd)?.icePwd;
  const newCredentials = ufrag !== undefined && ufrag !== peer.remoteUfrag();
  if (restartAsked || newCredentials) {
    if (!ufrag || !pwd) {
      throw new DomainError("bad-request", "an ICE restart needs a=ice-ufrag and a=ice-pwd");
    }
    const ice = await peer.restartIce(ufrag, pwd);
    await addCandidates(session, frag);
    session.etag = newEtag();
    return { kind: "restart", ice, etag: session.etag, mid: peer.firstMid() };
  }
  await addCandidates(session, frag);
  return { kind: "trickle" };
}

/**
 * PATCH with `application/sdp` in server-offer mode: the client's answer. `ifMatch`, when
 * sent, must be the session's ETag or `*`.
 */
export async function acceptAnswer(
  store: RoomStore,
  who: Principal,
  id: string,
  ifMatch: string | undefined,
  answer: string,
): Promise<Patched> {
  const session = ownedSession(store, who, id);
  if (ifMatch !== undefined) requireIfMatch(session, ifMatch, ["*"]);
  parseSdp(answer);
  if (session.kind !== "whep") {
    throw new DomainError("unprocessable", "only server-offer WHEP sessions take an SDP answer");
  }
  await session.media.peer.acceptAnswer(answer);
  return { kind: "answer" };
}

async function addCandidates(session: Session, frag: SdpFrag): Promise<void> {
  for (const m of frag.media) {
    if (m.mid !== undefined && !session.media.peer.hasMid(m.mid)) {
      throw new DomainError("unprocessable", `the session has no m-line with mid "${m.mid}"`);
    }
  }
  for (const m of frag.media) {
    for (const c of m.candidates) {
      if (isUsableCandidate(c)) await session.media.peer.addCandidate(c);
    }
  }
}
