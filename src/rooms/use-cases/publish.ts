/**
 * WHIP: publishing an identity's media in a room, make-before-break.
 *
 * @module
 */
import { type Principal, requirePublisher } from "../../auth/rights.ts";
import { Publication } from "../../media/publication.ts";
import { parseSdp } from "../../sdp/offer.ts";
import { IngestSession } from "../../sessions/session.ts";
import type { Room } from "../room.ts";
import { neverConnected, type RoomStore } from "../store.ts";
import { memberRoom, openRoom } from "./membership.ts";
import { type Created, negotiate } from "./negotiate.ts";

/**
 * A WHIP session whose media has not started this long after its POST — not connected, or
 * connected but no video keyframe (no audio packet for an audio-only publication) — is ended
 * with the reason `not-connected` or `no-media`, ms. Until its media starts it does not feed
 * the players: a session of the same identity that does keeps doing so. 15 s covers ICE and
 * DTLS on a slow path (a few seconds) plus an encoder that ignores keyframe requests and keeps
 * a 10 s keyframe interval (OBS can be set so); a silent peer is ended sooner by the session
 * timeout (`SESSION_TIMEOUT`, 10 s).
 */
export const MEDIA_START_TIMEOUT_MS = 15_000;

/**
 * WHIP: publishes `who`'s media in `name`. Make-before-break: the session feeds the players
 * only once its media starts (first video keyframe; first audio packet when audio-only), and
 * then ends `who`'s session that fed them until then (`replaced`); one whose media does not
 * start within {@link MEDIA_START_TIMEOUT_MS} is ended and the players lose nothing.
 */
export async function publish(
  store: RoomStore,
  who: Principal,
  name: string,
  offer: string,
): Promise<Created<IngestSession>> {
  const parsed = parseSdp(offer);
  requirePublisher(who, name, store.rooms.get(name)?.host);
  await store.capacity.admit(); // waits while the server is overloaded
  const room = who.role === "host" ? openRoom(store, who, name).room : memberRoom(store, who, name);
  using _slot = store.capacity.reserve(who, room); // held until registered or refused
  const media = new Publication(store.options.media, parsed);
  const sdp = await negotiate(store, name, media, () => media.answer(offer));
  const session = new IngestSession({ room: name, owner: who.sub, role: who.role }, media);
  store.register(room, session);
  awaitMedia(store, room, session);
  return { session, sdp };
}

/**
 * A new WHIP session takes over its identity's feed when its media starts (the old session,
 * if any, ends then: `replaced`), or is ended after {@link MEDIA_START_TIMEOUT_MS}.
 */
export function awaitMedia(store: RoomStore, room: Room, session: IngestSession): void {
  const deadline = setTimeout(() => {
    void session.close(neverConnected(session) ? "not-connected" : "no-media");
  }, MEDIA_START_TIMEOUT_MS);
  session.closed.on(() => clearTimeout(deadline));
  const start = () => {
    clearTimeout(deadline);
    if (store.sessions.get(session.id) !== session) return;
    const previous = room.startPublication(session);
    if (previous) void previous.close("replaced");
  };
  if (session.media.mediaStarted) start();
  else session.media.mediaStart.on(start);
  // a keyframe as soon as its first video packets arrive (if they are not one)
  session.media.requestKeyframe();
}
