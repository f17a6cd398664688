/**
 * WHEP: playing a publication of a room.
 *
 * @module
 */
import type { Principal } from "../../auth/rights.ts";
import { Subscription } from "../../media/subscription.ts";
import { egressCodecs, serverOfferCodecs } from "../../media/egress-codecs.ts";
import { parseSdp } from "../../sdp/offer.ts";
import { EgressSession } from "../../sessions/session.ts";
import type { RoomStore } from "../store.ts";
import { memberRoom } from "./membership.ts";
import { DomainError } from "../../errors.ts";
import { type Created, negotiate } from "./negotiate.ts";

/**
 * WHEP: plays `publisher`'s publication (the host's by default) in `name` for `who`.
 * With no offer (server-offer mode) the server offers and the answer comes by PATCH. With
 * `layer`, the session's video is that simulcast layer from its start (422 when the live
 * publication has none of that name), as a layer selection would pin it later.
 */
export async function play(
  store: RoomStore,
  who: Principal,
  name: string,
  offer: string | undefined,
  publisher?: string,
  layer?: string,
): Promise<Created<EgressSession>> {
  const parsed = offer === undefined ? undefined : parseSdp(offer);
  await store.capacity.admit(); // waits while the server is overloaded
  const room = memberRoom(store, who, name);
  using _slot = store.capacity.reserve(who, room); // held until registered or refused
  const target = publisher ?? room.host;
  if (layer !== undefined && !room.publishingSession(target)?.media.layers.has(layer)) {
    throw new DomainError("unprocessable", `the publication has no layer "${layer}"`);
  }
  const live = room.publicationCodecs(target);
  const codecs = parsed ? egressCodecs(parsed, live) : serverOfferCodecs();
  const media = new Subscription(store.options.media, codecs, parsed === undefined);
  if (layer !== undefined) media.selectLayer(layer); // before its source: pinned from the start
  const sdp = await negotiate(
    store,
    name,
    media,
    () => offer === undefined ? media.offer() : media.answer(offer),
  );
  const session = new EgressSession(
    { room: name, owner: who.sub, role: who.role },
    media,
    target,
  );
  store.register(room, session);
  return { session, sdp };
}
