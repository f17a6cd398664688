/**
 * Publishing from another server (a cluster edge's mirror of a room): this node plays the
 * publication there with WHEP and publishes it here under the publisher's identity, as a WHIP
 * session would — the media of the pull feeds this room's players directly (media/pull.ts).
 * The HTTP exchange with the other server is the caller's.
 *
 * @module
 */
import { type Principal, requirePublisher } from "../../auth/rights.ts";
import { Pull } from "../../media/pull.ts";
import type { Publication } from "../../media/publication.ts";
import { parseSdp } from "../../sdp/offer.ts";
import { IngestSession } from "../../sessions/session.ts";
import type { RoomStore } from "../store.ts";
import { memberRoom, openRoom } from "./membership.ts";
import { negotiate } from "./negotiate.ts";
import { awaitMedia } from "./publish.ts";

/**
 * POSTs a pull's WHEP `offer` to the other server and returns its answer; `layer`: the one
 * simulcast layer that pull asks for (undefined: the publication as a player gets it).
 */
export type PullExchange = (offer: string, layer?: string) => Promise<string>;

/**
 * Publishes `who`'s media in `name` from another server through `exchange`. `rids`: the
 * publication's simulcast layers there, highest first — one pull each (the first with the
 * audio), so players here choose among them as on the origin; none: one pull, as a player.
 * Like a WHIP session, it feeds the players once its media starts.
 */
export async function pull(
  store: RoomStore,
  who: Principal,
  name: string,
  exchange: PullExchange,
  rids: string[] = [],
): Promise<IngestSession> {
  requirePublisher(who, name, store.rooms.get(name)?.host);
  await store.capacity.admit(); // waits while the server is overloaded
  const room = who.role === "host" ? openRoom(store, who, name).room : memberRoom(store, who, name);
  using _slot = store.capacity.reserve(who, room);
  const options = store.options.media;
  const main = new Pull(options);
  const layers = rids.slice(1).map((rid) => ({ rid, pull: new Pull(options, ["video"]) }));
  let media: Publication | undefined;
  const closeAll = async () => {
    await media?.close();
    await Promise.all([main, ...layers.map((l) => l.pull)].map((p) => p.close()));
  };
  await negotiate(store, name, { close: closeAll }, async () => {
    const answer = await exchange(await main.offer(), rids[0]);
    media = await main.accept(answer, parseSdp(answer), rids.length ? rids : [""]);
    for (const { rid, pull } of layers) {
      await pull.acceptLayer(await exchange(await pull.offer(), rid), media, rid);
    }
    return answer;
  });
  const session = new IngestSession({ room: name, owner: who.sub, role: who.role }, media!);
  store.register(room, session);
  awaitMedia(store, room, session);
  return session;
}
