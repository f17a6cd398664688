/**
 * The negotiation step both POSTs share: run the offer/answer, and close the media when it
 * fails or when the room closed meanwhile, so a refused POST leaves nothing open.
 *
 * @module
 */
import { NotFoundError } from "../../errors.ts";
import type { RoomStore } from "../store.ts";

/** The result of a POST: the session and the SDP to return (answer, or offer in server-offer mode). */
export interface Created<S> {
  /** The new session. */
  session: S;
  /** Answer (client offer) or offer (server-offer mode). */
  sdp: string;
}

/**
 * Runs `exchange` (the media's answer or offer) and returns its SDP. Closes `media` and
 * rethrows when it fails; closes it and throws 404 when the room `name` was closed while it ran.
 */
export async function negotiate(
  store: RoomStore,
  name: string,
  media: { close(): Promise<void> },
  exchange: () => Promise<string>,
): Promise<string> {
  let sdp: string;
  try {
    sdp = await exchange();
  } catch (e) {
    await media.close();
    throw e;
  }
  if (!store.rooms.has(name)) { // closed while we negotiated
    await media.close();
    throw new NotFoundError(`the room "${name}" was closed`);
  }
  return sdp;
}
